-- One row per seller and tier interval (SCD type 2 as kept by the
-- application). valid_to NULL marks the interval that is current.

with source as (

    select * from {{ source('marketplace', 'seller_tier_history') }}

)

select
    cast(seller_id as bigint)               as seller_id,
    tier,
    {{ to_utc('valid_from') }}              as valid_from_utc,
    {{ to_utc('valid_to') }}                as valid_to_utc,
    valid_to is null                        as is_current,
    _airbyte_extracted_at
from source
