-- Every event the processor sent, once: no delivery lost, none doubled.
with source_events as (
    select count(distinct event_id) as n from {{ source('marketplace', 'payments') }}
),
modelled as (
    select count(*) as n from {{ ref('fct_payments') }}
)
select source_events.n as source_events, modelled.n as modelled_events
from source_events, modelled
where source_events.n <> modelled.n
