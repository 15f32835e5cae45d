-- One row per cohort month: buyers whose first GMV order fell in that month,
-- and how many of them bought again in a later month. Deleted buyers stay in
-- their cohort: their orders happened.

with buyer_months as (

    select distinct buyer_id, order_month
    from {{ ref('fct_orders') }}
    where is_gmv_order

),

first_months as (

    select buyer_id, min(order_month) as cohort_month
    from buyer_months
    group by buyer_id

),

buyers as (

    select
        first_months.buyer_id,
        first_months.cohort_month,
        max(buyer_months.order_month) > first_months.cohort_month as is_returning
    from first_months
    inner join buyer_months
        on buyer_months.buyer_id = first_months.buyer_id
    group by first_months.buyer_id, first_months.cohort_month

)

select
    cohort_month,
    count(*)                                    as buyers,
    count(*) filter (where is_returning)        as returning_buyers,
    round(count(*) filter (where is_returning) / count(*), 4) as returning_rate
from buyers
group by cohort_month
