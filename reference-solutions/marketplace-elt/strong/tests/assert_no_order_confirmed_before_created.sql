-- Guards the timezone fix on confirmed_at: read as UTC, the legacy value put
-- most confirmations before creation.
select order_id, created_at_utc, confirmed_at_utc
from {{ ref('fct_orders') }}
where confirmed_at_utc < created_at_utc
