-- One row per seller (user_type seller or both), with the tier currently in
-- force. A seller with no tier history yet has current_tier NULL.

with sellers as (

    select user_id, full_name, country_code, is_deleted, created_at_utc
    from {{ ref('dim_users') }}
    where is_seller

),

current_tiers as (

    select seller_id, tier, valid_from_utc
    from {{ ref('stg_seller_tier_history') }}
    where is_current
    -- guard against two open intervals: the latest one wins
    qualify row_number() over (partition by seller_id order by valid_from_utc desc) = 1

)

select
    sellers.user_id                 as seller_id,
    sellers.full_name               as seller_name,
    sellers.country_code,
    sellers.is_deleted,
    current_tiers.tier              as current_tier,
    current_tiers.valid_from_utc    as current_tier_since_utc,
    sellers.created_at_utc
from sellers
left join current_tiers
    on current_tiers.seller_id = sellers.user_id
