{{ config(severity='warn') }}
-- The current-state model trusts sequence_number; warn if it ever has gaps.
select entity_type, entity_id, count(*) as events, max(sequence_number) as last_sequence
from {{ ref('stg_event_log') }}
group by entity_type, entity_id
having count(*) <> max(sequence_number) or min(sequence_number) <> 1
