-- One row per user, deleted users included (is_deleted). Active-user counts
-- filter on is_deleted; order facts keep deleted buyers because the sale
-- happened.

with users as (

    select
        user_id, email, full_name, user_type, is_buyer, is_seller, country_code,
        is_deleted, created_at_utc, updated_at_utc, deleted_at_utc
    from {{ ref('stg_users') }}

)

select
    user_id,
    email,
    full_name,
    user_type,
    is_buyer,
    is_seller,
    -- about 8 % of users have no country; 'ZZ' (ISO user-assigned, never a
    -- real country) keeps them visible in group-bys instead of a NULL bucket
    coalesce(country_code, '{{ var("unknown_country_code") }}') as country_code,
    country_code is null            as is_country_unknown,
    is_deleted,
    created_at_utc,
    updated_at_utc,
    deleted_at_utc
from users
