-- One row per payment event.
--
-- The processor delivers events at least once: a few percent of event_ids
-- arrive two or three times, identical except for a later received_at and a
-- new loader row id. We keep the first delivery of each event_id; later
-- deliveries carry no new information.

with source as (

    select * from {{ source('marketplace', 'payments') }}

),

deduplicated as (

    select *
    from source
    qualify row_number() over (
        partition by event_id
        order by received_at, _airbyte_extracted_at, _airbyte_raw_id
    ) = 1

),

renamed as (

    select
        event_id,
        cast(order_id as bigint)                as order_id,
        event_type,
        cast(amount as decimal(12, 2))          as amount,
        upper(currency)                         as currency,
        payment_method,
        {{ to_utc('event_at') }}                as event_at,
        {{ to_utc('received_at') }}             as first_received_at_utc,
        _airbyte_extracted_at
    from deduplicated

)

select * from renamed
