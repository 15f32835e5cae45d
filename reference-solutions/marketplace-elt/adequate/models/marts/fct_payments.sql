select
    p.event_id,
    p.order_id,
    p.event_type,
    p.amount,
    p.currency,
    p.amount * r.rate_to_usd as amount_usd,
    p.event_at
from {{ ref('stg_payments') }} p
left join {{ ref('int_orders_usd') }} o on o.order_id = p.order_id
left join {{ ref('exchange_rates') }} r
    on r.currency = p.currency
    and r.month = o.order_month
