select
    p.seller_id,
    sum(i.quantity * i.unit_price) as gmv_usd
from {{ source('marketplace', 'order_items') }} i
join {{ source('marketplace', 'products') }} p on p.product_id = i.product_id
join {{ ref('fct_orders') }} o on o.order_id = i.order_id
where o.status in ('confirmed', 'shipped', 'delivered')
group by 1
