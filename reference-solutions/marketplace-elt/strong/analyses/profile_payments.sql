-- Profiling before modelling: are payment events delivered more than once (T1)?
-- Compiled with `dbt compile`, run by hand against the warehouse.

-- Events vs deliveries: the two counts differ by a few percent.
select
    count(*) as deliveries,
    count(distinct event_id) as events
from {{ source('marketplace', 'payments') }};

-- What differs between the copies of one event: received_at and the loader's id only.
select
    event_id,
    count(*) as copies,
    count(distinct received_at) as distinct_received_at,
    count(distinct amount) as distinct_amounts
from {{ source('marketplace', 'payments') }}
group by event_id
having count(*) > 1
order by copies desc
limit 20;

-- Currencies present (T6).
select currency, count(*) as payments
from {{ source('marketplace', 'payments') }}
group by currency;
