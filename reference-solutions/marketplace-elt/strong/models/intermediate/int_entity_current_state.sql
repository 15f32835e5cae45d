-- The latest state of each entity according to the change log. The log's
-- arrival order (recorded_at) is not its causal order: replaying by
-- recorded_at would resurrect stale states, so the last event is chosen by
-- sequence_number, which the source assigns per entity without gaps.

with events as (

    select * from {{ ref('stg_event_log') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by entity_type, entity_id
            order by sequence_number desc
        ) as recency_rank,
        count(*) over (partition by entity_type, entity_id) as events_seen
    from events

)

select
    entity_type,
    entity_id,
    operation           as last_operation,
    operation = 'delete' as is_deleted_in_source,
    payload             as last_payload,
    sequence_number     as last_sequence_number,
    events_seen,
    occurred_at_utc     as last_occurred_at_utc,
    recorded_at_utc     as last_recorded_at_utc
from ranked
where recency_rank = 1
