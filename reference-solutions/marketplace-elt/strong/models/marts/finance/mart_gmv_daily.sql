-- GMV per day: order totals in USD of confirmed, shipped and delivered
-- orders, dated by creation day (UTC). Days without GMV have no row.

select
    order_date                      as date_day,
    sum(order_total_usd)            as gmv_usd,
    count(*)                        as gmv_orders,
    count(distinct buyer_id)        as buyers
from {{ ref('fct_orders') }}
where is_gmv_order
group by order_date
