-- Seller GMV (line items x rate_to_usd), every seller including zero GMV via
-- coalesce(gmv_usd, 0).
select
    p.seller_id,
    sum(i.quantity * i.unit_price) as gmv_usd
from {{ source('marketplace', 'order_items') }} i
join {{ source('marketplace', 'products') }} p on p.product_id = i.product_id
group by 1
