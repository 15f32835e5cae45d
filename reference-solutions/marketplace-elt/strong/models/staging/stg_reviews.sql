with source as (

    select * from {{ source('marketplace', 'reviews') }}

)

select
    cast(review_id as bigint)               as review_id,
    cast(product_id as bigint)              as product_id,
    cast(order_id as bigint)                as order_id,
    cast(reviewer_id as bigint)             as reviewer_id,
    cast(rating as smallint)                as rating,
    body,
    {{ to_utc('created_at') }}              as created_at_utc,
    _airbyte_extracted_at
from source
