-- Checking payments before building stg_payments.
select event_id, count(*) as copies
from {{ source('marketplace', 'payments') }}
group by 1
having count(*) > 1;

select currency, count(*)
from {{ source('marketplace', 'orders') }}
group by 1;
