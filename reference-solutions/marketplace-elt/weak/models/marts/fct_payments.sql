select
    event_id,
    order_id,
    event_type,
    amount as amount_usd
from {{ ref('stg_payments') }}
