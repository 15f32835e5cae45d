select
    event_id,
    order_id,
    event_type,
    amount,
    currency,
    payment_method,
    event_at
from {{ source('marketplace', 'payments') }}
