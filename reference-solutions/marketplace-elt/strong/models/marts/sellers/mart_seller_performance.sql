-- One row per seller, sellers without sales included (GMV 0). GMV is
-- attributed per line item at the order month's rate, so the sellers' GMV
-- adds up to the total GMV.

with sellers as (

    select seller_id, seller_name, current_tier, is_deleted
    from {{ ref('dim_sellers') }}

),

sales as (

    select
        seller_id,
        sum(line_total_usd)         as gmv_usd,
        count(distinct order_id)    as orders,
        sum(quantity)               as units_sold
    from {{ ref('int_order_items_usd') }}
    where is_gmv_order
    group by seller_id

),

ratings as (

    select
        products.seller_id,
        avg(reviews.rating)         as avg_verified_rating,
        count(*)                    as verified_reviews
    from {{ ref('fct_reviews') }} as reviews
    inner join {{ ref('stg_products') }} as products
        on products.product_id = reviews.product_id
    where reviews.is_verified_purchase
    group by products.seller_id

)

select
    sellers.seller_id,
    sellers.seller_name,
    sellers.current_tier,
    sellers.is_deleted,
    coalesce(sales.gmv_usd, 0)          as gmv_usd,
    coalesce(sales.orders, 0)           as gmv_orders,
    coalesce(sales.units_sold, 0)       as units_sold,
    ratings.avg_verified_rating,
    coalesce(ratings.verified_reviews, 0) as verified_reviews
from sellers
left join sales
    on sales.seller_id = sellers.seller_id
left join ratings
    on ratings.seller_id = sellers.seller_id
