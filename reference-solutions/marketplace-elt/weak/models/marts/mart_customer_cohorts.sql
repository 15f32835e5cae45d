with firsts as (
    select buyer_id, min(date_trunc('month', created_at_utc)) as cohort_month
    from {{ ref('fct_orders') }}
    group by 1
)

select
    cohort_month,
    count(*) as buyers,
    0 as returning_buyers
from firsts
group by 1
