-- One row per change event. Events reach the log out of order: recorded_at
-- does not follow sequence_number for several percent of rows, so anything
-- that replays the log orders by (entity_type, entity_id, sequence_number).

with source as (

    select * from {{ source('marketplace', 'event_log') }}

)

select
    cast(log_id as bigint)                  as log_id,
    entity_type,
    cast(entity_id as bigint)               as entity_id,
    operation,
    payload,
    cast(sequence_number as bigint)         as sequence_number,
    {{ to_utc('occurred_at') }}             as occurred_at_utc,
    {{ to_utc('recorded_at') }}             as recorded_at_utc,
    _airbyte_extracted_at
from source
