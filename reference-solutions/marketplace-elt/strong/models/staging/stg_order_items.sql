with source as (

    select * from {{ source('marketplace', 'order_items') }}

)

select
    cast(order_item_id as bigint)           as order_item_id,
    cast(order_id as bigint)                as order_id,
    cast(product_id as bigint)              as product_id,
    cast(quantity as integer)               as quantity,
    cast(unit_price as decimal(12, 2))      as unit_price,
    upper(currency)                         as currency,
    quantity * cast(unit_price as decimal(12, 2)) as line_total,
    _airbyte_extracted_at
from source
