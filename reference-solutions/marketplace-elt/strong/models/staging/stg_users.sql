-- One row per user. Soft-deleted users are kept and flagged (dim_users decides
-- how marts treat them); the country is left as delivered so the NULL handling
-- is visible in one place, dim_users.

with source as (

    select * from {{ source('marketplace', 'users') }}

),

renamed as (

    select
        cast(user_id as bigint)                     as user_id,
        lower(trim(email))                          as email,
        full_name,
        user_type,
        upper(nullif(trim(country_code), ''))       as country_code,
        {{ to_utc('created_at') }}                  as created_at_utc,
        {{ to_utc('updated_at') }}                  as updated_at_utc,
        {{ to_utc('deleted_at') }}                  as deleted_at_utc,
        deleted_at is not null                      as is_deleted,
        user_type in ('buyer', 'both')              as is_buyer,
        user_type in ('seller', 'both')             as is_seller,
        _airbyte_extracted_at
    from source

)

select * from renamed
