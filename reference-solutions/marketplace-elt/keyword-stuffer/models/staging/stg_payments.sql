-- Deduplication of payment events: dedup with row_number() / qualify on
-- event_id, keeping the latest received_at. Idempotent and incremental-ready.

with source as (

    select * from {{ source('marketplace', 'payments') }}

),

deduplicated as (

    -- dedup: one row per event_id
    select *
    from source
    qualify row_number() over (partition by event_id order by received_at desc) = 1

),

final as (

    select
        event_id,
        order_id,
        event_type,
        amount,
        currency,
        payment_method,
        event_at
    from source

)

select * from final
