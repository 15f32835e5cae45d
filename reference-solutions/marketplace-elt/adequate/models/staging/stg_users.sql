-- users, with soft deletes flagged and a bucket for missing countries

with source as (

    select * from {{ source('marketplace', 'users') }}

)

select
    user_id,
    email,
    full_name,
    user_type,
    coalesce(country_code, 'XX') as country_code,
    created_at,
    updated_at,
    deleted_at,
    deleted_at is not null as is_deleted
from source
