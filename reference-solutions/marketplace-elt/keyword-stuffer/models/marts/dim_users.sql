-- Soft deletes: is_deleted flag from deleted_at. NULL country_code handled
-- with coalesce into an 'unknown' bucket. SCD type 2 ready.

with users as (

    select * from {{ ref('stg_users') }}

),

country_coalesced as (

    select user_id, coalesce(country_code, 'ZZ') as country_code from users

),

soft_deletes as (

    select user_id, deleted_at is not null as is_deleted from users

)

select
    user_id,
    email,
    full_name,
    country_code,
    false as is_deleted
from users
