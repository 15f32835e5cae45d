-- Reviews with a verified-purchase flag. A review is verified only when its
-- order exists and contains the reviewed product; a small share of reviews
-- point at orders that do not exist or do not contain the product.

with reviews as (

    select * from {{ ref('stg_reviews') }}

),

purchased as (

    select distinct order_id, product_id
    from {{ ref('stg_order_items') }}

)

select
    reviews.review_id,
    reviews.product_id,
    reviews.order_id,
    reviews.reviewer_id,
    reviews.rating,
    reviews.created_at_utc,
    purchased.order_id is not null                          as is_verified_purchase,
    reviews.order_id is not null and purchased.order_id is null as has_orphan_order_reference
from reviews
left join purchased
    on  purchased.order_id = reviews.order_id
    and purchased.product_id = reviews.product_id
