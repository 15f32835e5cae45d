-- Example staging model: one row per user, columns renamed and typed.
-- Use it as a template for the other source tables.

with source as (

    select * from {{ source('marketplace', 'users') }}

),

renamed as (

    select
        user_id,
        email,
        full_name,
        user_type,
        country_code,
        created_at,
        updated_at,
        deleted_at
    from source

)

select * from renamed
