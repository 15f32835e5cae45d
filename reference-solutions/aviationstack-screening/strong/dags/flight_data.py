"""Daily flight data pipeline: AviationStack -> GCS -> Snowflake -> dbt.

One run handles one day, the run's logical date (`ds`), never "now": a rerun or
a backfill of a day fetches, stages and loads that same day again, and every
step replaces the day instead of appending to it, so reruns are harmless.

    extract_flight_data >> upload_to_gcs >> load_to_snowflake
        >> check_flight_data_quality >> run_dbt

Credentials: the AviationStack key and the Snowflake login reach the workers
as environment variables from the secrets backend (AVIATIONSTACK_ACCESS_KEY,
SNOWFLAKE_*); GCS uses the workers' application-default credentials. Nothing
secret is in this file or in XCom.
"""

import logging
import os
import sys
from datetime import datetime, timedelta

from airflow import DAG

try:  # Airflow 3: the core operators moved to the standard provider.
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator
    from airflow.operators.python import PythonOperator

# dags/ and src/ sit side by side in this repository; make src importable when
# the deployment syncs the whole repository into the DAGs folder.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.append(REPO_ROOT)

log = logging.getLogger(__name__)

GCS_BUCKET = os.environ.get("FLIGHTS_GCS_BUCKET", "example-raw-flights")
RAW_TABLE = "RAW.FLIGHTS"
DBT_PROJECT_DIR = os.environ.get("DBT_PROJECT_DIR", "/opt/airflow/dbt")
# Below this many flights a day the extract is almost certainly incomplete
# (the partner airlines fly thousands of legs a day); tune with real volumes.
MIN_FLIGHTS_PER_DAY = int(os.environ.get("FLIGHTS_MIN_ROWS_PER_DAY", "1"))


def notify_failure(context):
    """Alert on a failed task; the message carries no data and no secrets."""
    ti = context.get("task_instance") or context.get("ti")
    message = (
        f"flight_data failed: task={getattr(ti, 'task_id', '?')} "
        f"run={context.get('run_id')} try={getattr(ti, 'try_number', '?')} "
        f"error={type(context.get('exception')).__name__}"
    )
    log.error(message)
    webhook = os.environ.get("FLIGHTS_ALERT_WEBHOOK")
    if webhook:
        import requests

        try:
            requests.post(webhook, json={"text": message}, timeout=10)
        except requests.RequestException:
            # The alert channel being down must not mask the task's own failure.
            log.exception("could not send the failure alert")


def extract_flight_data(ds, **_):
    """Fetch the day's flights. fetch_flights retries 429/5xx itself; anything
    else (bad key, plan restrictions) fails fast and Airflow's retries take over."""
    from src.aviation_stack import fetch_flights

    records = fetch_flights(flight_date=ds)
    log.info("extracted %d flights for %s", len(records), ds)
    # Small by design: a day of flat records for the partner airlines is a few
    # hundred KB. Past ~1 MB use an object-storage XCom backend rather than the
    # metadata database; the tasks stay the same.
    return records


def upload_to_gcs(ds, ti, **_):
    from src.gcs import upload_json

    records = ti.xcom_pull(task_ids="extract_flight_data")
    if records is None:
        raise ValueError(f"no extract found in XCom for {ds}")
    # flights/flight_date=<ds>/flights.json: one object per day, replaced on rerun.
    return upload_json(GCS_BUCKET, records, ds)


def load_to_snowflake(ds, ti, **_):
    from src.snowflake import load_from_gcs

    gcs_uri = ti.xcom_pull(task_ids="upload_to_gcs")
    # conn=None: load_from_gcs opens the connection and closes it on every path.
    # DELETE of the day + COPY in one transaction: idempotent per load_date.
    return load_from_gcs(None, gcs_uri, ds, table=RAW_TABLE)


def check_flight_data_quality(ds, ti, **_):
    """Fail the run before dbt publishes a bad day to Looker."""
    from src.snowflake import get_connection

    extracted = len(ti.xcom_pull(task_ids="extract_flight_data") or [])
    conn = get_connection()
    try:
        cursor = conn.cursor()
        try:
            cursor.execute(
                f"SELECT COUNT(*), "
                f"COUNT_IF(flight_date IS NULL OR airline_name IS NULL), "
                f"COUNT_IF(flight_date <> load_date) "
                f"FROM {RAW_TABLE} WHERE load_date = %s",
                (ds,),
            )
            rows, missing_keys, wrong_day = cursor.fetchone()
        finally:
            cursor.close()
    finally:
        conn.close()

    problems = []
    if rows < MIN_FLIGHTS_PER_DAY:
        problems.append(f"{rows} rows loaded, expected at least {MIN_FLIGHTS_PER_DAY}")
    if rows != extracted:
        problems.append(f"{rows} rows loaded but {extracted} extracted")
    if missing_keys:
        problems.append(f"{missing_keys} rows without flight_date or airline_name")
    if wrong_day:
        problems.append(f"{wrong_day} rows whose flight_date is not {ds}")
    if problems:
        raise ValueError(f"data quality check failed for {ds}: " + "; ".join(problems))
    log.info("quality check passed for %s: %d rows", ds, rows)


default_args = {
    "owner": "data-engineering",
    "depends_on_past": False,
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    # API outages and Snowflake maintenance last minutes, not seconds.
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(minutes=20),
    "on_failure_callback": notify_failure,
}

with DAG(
    dag_id="flight_data",
    description="AviationStack flights -> GCS -> Snowflake RAW.FLIGHTS -> dbt",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    # Historical days need a paid plan and cost API quota: backfill on purpose
    # (airflow dags backfill), not on every deploy.
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args,
    tags=["aviationstack", "raw", "snowflake"],
    doc_md=__doc__,
) as dag:
    extract = PythonOperator(
        task_id="extract_flight_data",
        python_callable=extract_flight_data,
        execution_timeout=timedelta(minutes=15),
    )
    upload = PythonOperator(
        task_id="upload_to_gcs",
        python_callable=upload_to_gcs,
        execution_timeout=timedelta(minutes=10),
    )
    load = PythonOperator(
        task_id="load_to_snowflake",
        python_callable=load_to_snowflake,
        execution_timeout=timedelta(minutes=20),
    )
    quality = PythonOperator(
        task_id="check_flight_data_quality",
        python_callable=check_flight_data_quality,
        # A failed check is a finding about the data, not a glitch: retrying
        # would only delay the alert.
        retries=0,
        execution_timeout=timedelta(minutes=10),
    )
    run_dbt = BashOperator(
        task_id="run_dbt",
        # dbt build runs the models and their tests; the day comes from the run.
        bash_command=(
            f"cd {DBT_PROJECT_DIR} && "
            "dbt build --select +tag:flights --vars '{\"load_date\": \"{{ ds }}\"}'"
        ),
        execution_timeout=timedelta(minutes=45),
        retries=1,
    )

    extract >> upload >> load >> quality >> run_dbt
