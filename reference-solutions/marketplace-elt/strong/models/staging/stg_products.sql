-- One row per product.
--
-- About 3 % of products carry an updated_at later than the sync that landed
-- them (clock skew in the listing service, months into the future). A raw
-- updated_at must never drive an incremental watermark: one such row would
-- push the high-water mark past every genuine change for months. We keep the
-- delivered value for auditing, cap it at the extraction time, and flag it.

with source as (

    select * from {{ source('marketplace', 'products') }}

),

renamed as (

    select
        cast(product_id as bigint)              as product_id,
        cast(seller_id as bigint)               as seller_id,
        cast(category_id as integer)            as category_id,
        title,
        cast(price as decimal(12, 2))           as price,
        upper(currency)                         as currency,
        is_active,
        {{ to_utc('created_at') }}              as created_at_utc,
        {{ to_utc('updated_at') }}              as updated_at_raw_utc,
        {{ to_utc('least(updated_at, _airbyte_extracted_at)') }}
                                                as updated_at_utc,
        updated_at > _airbyte_extracted_at      as has_future_updated_at,
        _airbyte_extracted_at
    from source

)

select * from renamed
