-- One row per order.
--
-- confirmed_at is written by a legacy service as a naive wall-clock time in
-- America/New_York, unlike every other timestamp (timezone-aware). Read as UTC
-- it puts most confirmations hours before the order was created; converted
-- from New York time every confirmation follows creation by minutes.

with source as (

    select * from {{ source('marketplace', 'orders') }}

),

renamed as (

    select
        cast(order_id as bigint)                    as order_id,
        cast(buyer_id as bigint)                    as buyer_id,
        status,
        upper(currency)                             as currency,
        cast(order_total as decimal(12, 2))         as order_total,
        {{ to_utc('created_at') }}                  as created_at_utc,
        {{ local_naive_to_utc('confirmed_at', var('legacy_source_timezone')) }}
                                                    as confirmed_at_utc,
        {{ to_utc('updated_at') }}                  as updated_at_utc,
        status in ('confirmed', 'shipped', 'delivered') as is_gmv_order,
        _airbyte_extracted_at
    from source

)

select * from renamed
