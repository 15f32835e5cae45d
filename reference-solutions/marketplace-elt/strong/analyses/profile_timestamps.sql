-- Profiling the timestamps (T2, T3, T7).

-- T3: read as UTC, how many orders are confirmed before they were created?
select
    count(*) as orders,
    count(*) filter (where confirmed_at < created_at) as confirmed_before_created
from {{ source('marketplace', 'orders') }};

-- T3: the gap by month shows the 4-5 hour offset and its switch in March (DST).
select
    date_trunc('month', created_at) as month,
    avg(epoch(created_at) - epoch(confirmed_at)) / 3600 as avg_gap_hours
from {{ source('marketplace', 'orders') }}
where confirmed_at is not null
group by 1
order by 1;

-- T2: product updates stamped after the sync that delivered them.
select count(*) as future_updated_at
from {{ source('marketplace', 'products') }}
where updated_at > _airbyte_extracted_at;

-- T7: change events recorded out of sequence order within an entity.
select count(*) as out_of_order
from (
    select
        recorded_at,
        lag(recorded_at) over (
            partition by entity_type, entity_id order by sequence_number
        ) as previous_recorded_at
    from {{ source('marketplace', 'event_log') }}
) as ordered
where recorded_at < previous_recorded_at;
