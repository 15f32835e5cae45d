select
    u.user_id as seller_id,
    u.full_name,
    t.tier as current_tier
from {{ ref('stg_users') }} u
left join {{ ref('stg_seller_tier_history') }} t
    on t.seller_id = u.user_id
    and t.valid_to is null
where u.user_type in ('seller', 'both')
