-- GMV per seller from line items, in USD at the order month's rate

select
    p.seller_id,
    sum(i.quantity * i.unit_price * r.rate_to_usd) as gmv_usd,
    count(distinct o.order_id) as orders
from {{ ref('stg_order_items') }} i
join {{ ref('int_orders_usd') }} o on o.order_id = i.order_id
join {{ ref('stg_products') }} p on p.product_id = i.product_id
left join {{ ref('exchange_rates') }} r
    on r.currency = i.currency
    and r.month = o.order_month
where o.status in ('confirmed', 'shipped', 'delivered')
group by 1
