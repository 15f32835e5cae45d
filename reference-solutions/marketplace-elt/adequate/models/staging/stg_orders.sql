select
    order_id,
    buyer_id,
    status,
    currency,
    order_total,
    created_at,
    confirmed_at,
    updated_at
from {{ source('marketplace', 'orders') }}
