-- One row per GMV order: what the order says it is worth against what the
-- processor captured for it (each event once, refunds not netted).

with orders as (

    select order_id, buyer_id, status, order_date, currency, order_total, order_total_usd
    from {{ ref('fct_orders') }}
    where is_gmv_order

),

captured as (

    select
        order_id,
        sum(amount_usd)     as captured_usd,
        count(*)            as captured_events
    from {{ ref('fct_payments') }}
    where event_type = 'captured'
    group by order_id

)

select
    orders.order_id,
    orders.buyer_id,
    orders.status,
    orders.order_date,
    orders.currency,
    orders.order_total,
    orders.order_total_usd,
    coalesce(captured.captured_usd, 0)                              as captured_usd,
    coalesce(captured.captured_events, 0)                           as captured_events,
    coalesce(captured.captured_usd, 0) - orders.order_total_usd     as difference_usd,
    abs(coalesce(captured.captured_usd, 0) - orders.order_total_usd) <= 0.01 as is_matched
from orders
left join captured
    on captured.order_id = orders.order_id
