select
    product_id,
    seller_id,
    category_id,
    title,
    price,
    currency,
    is_active,
    created_at,
    updated_at
from {{ source('marketplace', 'products') }}
