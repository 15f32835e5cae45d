select
    order_id,
    buyer_id,
    status,
    created_at as created_at_utc,
    confirmed_at as confirmed_at_utc,
    order_total as order_total_usd
from {{ ref('stg_orders') }}
