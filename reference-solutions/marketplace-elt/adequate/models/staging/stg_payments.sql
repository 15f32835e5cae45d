-- payments has duplicate rows for the same event_id (found with a group by
-- event_id having count(*) > 1). Keep one row per event.

with ranked as (

    select
        *,
        row_number() over (partition by event_id order by received_at) as rn
    from {{ source('marketplace', 'payments') }}

)

select
    event_id,
    order_id,
    event_type,
    amount,
    currency,
    payment_method,
    event_at,
    received_at
from ranked
where rn = 1
