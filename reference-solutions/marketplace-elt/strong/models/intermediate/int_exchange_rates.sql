-- Monthly rates to USD (seed), one row per currency and month.

select
    upper(currency)                     as currency,
    cast(month as date)                 as rate_month,
    cast(rate_to_usd as decimal(10, 4)) as rate_to_usd
from {{ ref('exchange_rates') }}
