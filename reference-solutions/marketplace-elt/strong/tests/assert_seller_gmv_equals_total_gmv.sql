-- Item-level seller GMV and order-level GMV must agree (to a cent per order).
with sellers as (
    select coalesce(sum(gmv_usd), 0) as gmv from {{ ref('mart_seller_performance') }}
),
daily as (
    select coalesce(sum(gmv_usd), 0) as gmv from {{ ref('mart_gmv_daily') }}
),
orders as (
    select count(*) as n from {{ ref('fct_orders') }} where is_gmv_order
)
select sellers.gmv as seller_gmv, daily.gmv as daily_gmv
from sellers, daily, orders
where abs(sellers.gmv - daily.gmv) > 0.01 * greatest(orders.n, 1)
