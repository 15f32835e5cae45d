-- Incremental fact with unique_key='event_id' (merge). Dedup upstream.
{% set unique_key = 'event_id' %}

with payments as (

    select * from {{ ref('stg_payments') }}

),

deduped_payments as (

    select distinct * from payments

)

select
    event_id,
    order_id,
    event_type,
    amount as amount_usd
from payments
