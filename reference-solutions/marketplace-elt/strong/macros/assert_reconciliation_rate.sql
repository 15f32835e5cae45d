{#
    Data-quality gate run by the DAG after `dbt test`:
        dbt run-operation assert_reconciliation_rate --args '{"min_rate": 0.95, "run_date": "2026-07-01"}'
    Fails (raises) when the share of GMV orders created on run_date whose
    captured payments match the order total drops below min_rate. Days with
    no GMV orders pass.
#}
{% macro assert_reconciliation_rate(min_rate=0.95, run_date=none) %}
    {% set query %}
        select
            count(*) as orders,
            count(*) filter (where is_matched) as matched
        from {{ ref('mart_payment_reconciliation') }}
        {% if run_date %}
        where order_date = cast('{{ run_date }}' as date)
        {% endif %}
    {% endset %}
    {% set row = run_query(query).rows[0] %}
    {% set orders = row[0] | int %}
    {% set matched = row[1] | int %}
    {% if orders > 0 and (matched / orders) < min_rate %}
        {{ exceptions.raise_compiler_error(
            "reconciliation gate: " ~ matched ~ " of " ~ orders ~ " GMV orders matched ("
            ~ ((matched / orders * 100) | round(1)) ~ " %), below " ~ (min_rate * 100) ~ " %"
        ) }}
    {% endif %}
    {{ log("reconciliation gate: " ~ matched ~ " of " ~ orders ~ " GMV orders matched", info=True) }}
{% endmacro %}
