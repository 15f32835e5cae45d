select
    seller_id,
    tier as current_tier
from {{ source('marketplace', 'seller_tier_history') }}
where valid_to is null
