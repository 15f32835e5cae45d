{#
    Generic test: fails for every row where the column is negative.
    (A local macro instead of a hub package: the build environment is offline.)
#}
{% test non_negative(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} < 0

{% endtest %}
