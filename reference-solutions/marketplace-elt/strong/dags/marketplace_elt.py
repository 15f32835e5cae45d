"""Marketplace ELT pipeline.

extract (Airbyte sync, waited on) -> source freshness -> seed + build models
-> tests and data-quality gate -> publish.

Nothing is published unless every earlier stage succeeded: dashboards keep
yesterday's numbers rather than showing wrong ones. Every task is safe to
retry: the sync is idempotent on the loader's side, and dbt models either
rebuild or merge on a unique key.

Configuration (no credentials in this file):
  Connections  airbyte_default          Airbyte API
               slack_data_alerts        Slack webhook for alerts
  Variables    marketplace_airbyte_connection_id
               marketplace_dbt_project_dir   (default /opt/airflow/dbt)
               marketplace_dbt_target        (default prod)
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from airflow import DAG
from airflow.datasets import Dataset
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
from airflow.providers.airbyte.operators.airbyte import AirbyteTriggerSyncOperator
from airflow.providers.airbyte.sensors.airbyte import AirbyteJobSensor
from airflow.utils.task_group import TaskGroup

log = logging.getLogger(__name__)

# Variables are read through templates at run time, not at parse time: the
# scheduler parses this file every few seconds and must not hit the database.
DBT = "cd {{ var.value.get('marketplace_dbt_project_dir', '/opt/airflow/dbt') }} && dbt --no-use-colors"
# Artifacts per run date, so a retry or a backfill never overwrites another
# run's evidence.
DBT_ARGS = "--target {{ var.value.get('marketplace_dbt_target', 'prod') }} --target-path target/{{ ds }}"

MARTS_DATASET = Dataset("duckdb://analytics/marts")


def alert_on_failure(context: dict) -> None:
    """Post the failed task, its try number and its log link to the data team's channel."""
    ti = context["task_instance"]
    message = (
        f":red_circle: marketplace_elt failed: task `{ti.task_id}` "
        f"(try {ti.try_number}) for {context['ds']}.\n"
        f"Log: {ti.log_url}\n"
        f"Error: {context.get('exception')}"
    )
    log.error(message)
    try:
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

        SlackWebhookHook(slack_webhook_conn_id="slack_data_alerts").send(text=message)
    except Exception:  # alerting must never mask the original failure
        log.exception("could not deliver the failure alert")


def alert_on_retry(context: dict) -> None:
    ti = context["task_instance"]
    log.warning("marketplace_elt: %s is retrying (try %s)", ti.task_id, ti.try_number)


default_args = {
    "owner": "data-platform",
    "depends_on_past": False,
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=1),
    "on_failure_callback": alert_on_failure,
    "on_retry_callback": alert_on_retry,
}

with DAG(
    dag_id="marketplace_elt",
    description="Marketplace ELT: Airbyte sync, dbt build and tests, publish marts",
    start_date=datetime(2026, 1, 1),
    schedule="0 3 * * *",  # after the nightly sync window of the source database
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args,
    tags=["marketplace", "elt", "dbt"],
    doc_md=__doc__,
) as dag:
    start = EmptyOperator(task_id="start")

    with TaskGroup(group_id="extract") as extract:
        trigger_sync = AirbyteTriggerSyncOperator(
            task_id="trigger_airbyte_sync",
            airbyte_conn_id="airbyte_default",
            connection_id="{{ var.value.marketplace_airbyte_connection_id }}",
            asynchronous=True,
        )
        wait_for_sync = AirbyteJobSensor(
            task_id="wait_for_airbyte_sync",
            airbyte_conn_id="airbyte_default",
            airbyte_job_id=trigger_sync.output,
            mode="reschedule",  # frees the worker slot while the sync runs
            poke_interval=60,
            timeout=int(timedelta(hours=2).total_seconds()),
        )
        trigger_sync >> wait_for_sync

    source_freshness = BashOperator(
        task_id="dbt_source_freshness",
        bash_command=f"{DBT} source freshness {DBT_ARGS}",
        # stale sources mean the sync silently loaded nothing: do not build on it
        retries=1,
    )

    with TaskGroup(group_id="transform") as transform:
        dbt_seed = BashOperator(
            task_id="dbt_seed",
            bash_command=f"{DBT} seed {DBT_ARGS}",
        )
        dbt_run = BashOperator(
            task_id="dbt_run",
            bash_command=f"{DBT} run {DBT_ARGS}",
        )
        dbt_seed >> dbt_run

    with TaskGroup(group_id="quality") as quality:
        dbt_test = BashOperator(
            task_id="dbt_test",
            bash_command=f"{DBT} test {DBT_ARGS}",
            # a failing test is a data problem, not a transient one
            retries=0,
        )
        reconciliation_gate = BashOperator(
            task_id="reconciliation_gate",
            # fails the run when fewer than 95 % of the day's GMV orders match
            # their captured payments: a processor outage or a dedup regression
            bash_command=(
                f"{DBT} run-operation assert_reconciliation_rate {DBT_ARGS} "
                "--args '{\"min_rate\": 0.95, \"run_date\": \"{{ ds }}\"}'"
            ),
            retries=0,
        )
        dbt_test >> reconciliation_gate

    publish = BashOperator(
        task_id="publish_docs_and_marts",
        bash_command=f"{DBT} docs generate {DBT_ARGS}",
        outlets=[MARTS_DATASET],  # downstream DAGs (dashboards, exports) wait on this
    )

    end = EmptyOperator(task_id="end")

    start >> extract >> source_freshness >> transform >> quality >> publish >> end
