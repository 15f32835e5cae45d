with gmv_orders as (
    select buyer_id, order_month
    from {{ ref('fct_orders') }}
    where status in ('confirmed', 'shipped', 'delivered')
),

first_order as (
    select buyer_id, min(order_month) as cohort_month
    from gmv_orders
    group by 1
),

returners as (
    select distinct f.buyer_id
    from first_order f
    join gmv_orders g on g.buyer_id = f.buyer_id and g.order_month > f.cohort_month
)

select
    f.cohort_month,
    count(*) as buyers,
    count(r.buyer_id) as returning_buyers
from first_order f
left join returners r on r.buyer_id = f.buyer_id
group by 1
