-- GMV in USD per day, converted with the order month's rate (see
-- int_currency_conversion). Incremental candidate.
select
    cast(created_at_utc as date) as date_day,
    sum(order_total_usd) as gmv_usd
from {{ ref('fct_orders') }}
group by 1
