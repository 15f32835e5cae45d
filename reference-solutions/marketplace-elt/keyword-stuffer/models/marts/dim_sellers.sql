-- SCD type 2 seller tiers: current tier where valid_to is null.
select
    seller_id,
    tier as current_tier
from {{ source('marketplace', 'seller_tier_history') }}
