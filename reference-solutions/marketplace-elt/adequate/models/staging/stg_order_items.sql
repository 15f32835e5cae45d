select
    order_item_id,
    order_id,
    product_id,
    quantity,
    unit_price,
    currency
from {{ source('marketplace', 'order_items') }}
