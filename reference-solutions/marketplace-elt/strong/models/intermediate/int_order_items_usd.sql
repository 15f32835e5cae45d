-- Line items with the product's seller and the line total in USD, converted
-- at the rate of the order's month (not the month the item or product was
-- last touched).

with items as (

    select * from {{ ref('stg_order_items') }}

),

orders as (

    select order_id, status, is_gmv_order, order_month, order_date
    from {{ ref('int_orders_enriched') }}

),

products as (

    select product_id, seller_id from {{ ref('stg_products') }}

),

rates as (

    select * from {{ ref('int_exchange_rates') }}

)

select
    items.order_item_id,
    items.order_id,
    items.product_id,
    products.seller_id,
    orders.status,
    orders.is_gmv_order,
    orders.order_date,
    orders.order_month,
    items.quantity,
    items.unit_price,
    items.currency,
    items.line_total,
    {{ to_usd('items.line_total', 'rates.rate_to_usd') }} as line_total_usd
from items
inner join orders
    on orders.order_id = items.order_id
left join products
    on products.product_id = items.product_id
left join rates
    on  rates.currency = items.currency
    and rates.rate_month = orders.order_month
