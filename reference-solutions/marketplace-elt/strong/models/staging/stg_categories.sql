with source as (

    select * from {{ source('marketplace', 'categories') }}

)

select
    cast(category_id as integer)            as category_id,
    name                                    as category_name,
    cast(parent_category_id as integer)     as parent_category_id,
    _airbyte_extracted_at
from source
