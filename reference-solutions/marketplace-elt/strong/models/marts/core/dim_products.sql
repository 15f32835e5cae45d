{{
    config(
        materialized='incremental',
        unique_key='product_id',
        incremental_strategy='merge'
    )
}}

-- One row per product. Incremental on updated_at, capped at the extraction
-- time in stg_products: a product stamped months in the future would
-- otherwise become the high-water mark and hide every real edit until that
-- date. A short lookback catches edits that land late.

with products as (

    select
        product_id, seller_id, category_id, title, price, currency, is_active,
        created_at_utc, updated_at_utc, updated_at_raw_utc, has_future_updated_at
    from {{ ref('stg_products') }}

    {% if is_incremental() %}
    where updated_at_utc >= (
        select max(updated_at_utc) - interval '{{ var("incremental_lookback_days") }} days'
        from {{ this }}
    )
    {% endif %}

),

categories as (

    select category_id, category_name from {{ ref('stg_categories') }}

)

select
    products.product_id,
    products.seller_id,
    products.category_id,
    categories.category_name,
    products.title,
    products.price,
    products.currency,
    products.is_active,
    products.created_at_utc,
    products.updated_at_utc,
    products.updated_at_raw_utc,
    products.has_future_updated_at
from products
left join categories
    on categories.category_id = products.category_id
