select * from {{ source('marketplace', 'orders') }}
