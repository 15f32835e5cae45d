"""Marketplace ELT pipeline (starter).

Runs the dbt project against the warehouse once a day.

TODO: make this DAG production-ready. Things to consider:
  - trigger the extract-and-load sync and wait for it before transforming
  - check that the sources are fresh before building on them
  - separate building models from testing them, and decide what happens when
    a test fails
  - retries, timeouts and alerting when a task fails
  - scheduling behaviour (backfills, overlapping runs)
  - where connection details and credentials come from
"""

from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

DBT_PROJECT_DIR = "/opt/airflow/dbt"

with DAG(
    dag_id="marketplace_elt",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
) as dag:
    # TODO: split into extract / freshness / build / test / publish steps.
    run_dbt = BashOperator(
        task_id="run_dbt",
        bash_command=f"cd {DBT_PROJECT_DIR} && dbt build",
    )
