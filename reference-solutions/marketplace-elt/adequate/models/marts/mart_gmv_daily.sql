select
    cast(created_at_utc as date) as date_day,
    sum(order_total_usd) as gmv_usd,
    count(*) as orders
from {{ ref('fct_orders') }}
where status in ('confirmed', 'shipped', 'delivered')
group by 1
