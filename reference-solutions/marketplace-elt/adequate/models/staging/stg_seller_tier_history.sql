select seller_id, tier, valid_from, valid_to
from {{ source('marketplace', 'seller_tier_history') }}
