with captured as (
    select order_id, sum(amount_usd) as captured_usd
    from {{ ref('fct_payments') }}
    where event_type = 'captured'
    group by 1
)

select
    o.order_id,
    o.order_total_usd,
    coalesce(c.captured_usd, 0) as captured_usd,
    abs(coalesce(c.captured_usd, 0) - o.order_total_usd) <= 0.01 as is_matched
from {{ ref('fct_orders') }} o
left join captured c on c.order_id = o.order_id
where o.status in ('confirmed', 'shipped', 'delivered')
