select
    user_id,
    email,
    full_name,
    user_type,
    country_code,
    is_deleted,
    created_at
from {{ ref('stg_users') }}
