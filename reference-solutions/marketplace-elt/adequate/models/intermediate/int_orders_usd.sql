-- orders converted to USD using the rate of the month the order was created

select
    o.order_id,
    o.buyer_id,
    o.status,
    o.currency,
    o.order_total,
    o.order_total * r.rate_to_usd as order_total_usd,
    o.created_at,
    o.confirmed_at,
    date_trunc('month', o.created_at)::date as order_month
from {{ ref('stg_orders') }} o
left join {{ ref('exchange_rates') }} r
    on r.currency = o.currency
    and r.month = date_trunc('month', o.created_at)::date
