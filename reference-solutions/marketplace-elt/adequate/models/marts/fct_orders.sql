select
    order_id,
    buyer_id,
    status,
    currency,
    order_total,
    order_total_usd,
    created_at as created_at_utc,
    confirmed_at as confirmed_at_utc,
    order_month
from {{ ref('int_orders_usd') }}
