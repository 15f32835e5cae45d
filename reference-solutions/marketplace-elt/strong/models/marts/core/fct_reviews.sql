-- One row per review; only verified purchases should feed rating metrics.

select
    review_id,
    product_id,
    order_id,
    reviewer_id,
    rating,
    created_at_utc,
    is_verified_purchase,
    has_orphan_order_reference
from {{ ref('int_reviews_verified') }}
