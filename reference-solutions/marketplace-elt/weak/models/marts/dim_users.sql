select
    user_id,
    email,
    full_name,
    country_code,
    deleted_at is not null as is_deleted
from {{ ref('stg_users') }}
