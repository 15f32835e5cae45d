"""Daily flight data pipeline: AviationStack -> GCS -> Snowflake -> dbt."""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator

BUCKET = "example-flights-raw"

default_args = {
    "owner": "data",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
}


def extract(ds, **_):
    from src.aviation_stack import fetch_flights

    return fetch_flights(flight_date=ds)


def upload(ds, ti, **_):
    from src.gcs import upload_json

    records = ti.xcom_pull(task_ids="extract_flight_data")
    return upload_json(BUCKET, records, ds)


def load(ds, ti, **_):
    from src.snowflake import get_connection, load_from_gcs

    uri = ti.xcom_pull(task_ids="upload_to_gcs")
    conn = get_connection()
    try:
        load_from_gcs(conn, uri, ds)
    finally:
        conn.close()


def check_row_count(ds, **_):
    from src.snowflake import get_connection

    conn = get_connection()
    try:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM RAW.FLIGHTS WHERE load_date = %s", (ds,))
        count = cur.fetchone()[0]
    finally:
        conn.close()
    if count == 0:
        raise ValueError(f"no flights loaded for {ds}")


with DAG(
    dag_id="flight_data",
    start_date=datetime(2025, 1, 1),
    schedule="@daily",
    catchup=False,
    default_args=default_args,
) as dag:
    extract_flight_data = PythonOperator(task_id="extract_flight_data", python_callable=extract)
    upload_to_gcs = PythonOperator(task_id="upload_to_gcs", python_callable=upload)
    load_to_snowflake = PythonOperator(task_id="load_to_snowflake", python_callable=load)
    quality_check = PythonOperator(task_id="check_row_count", python_callable=check_row_count)
    run_dbt = BashOperator(task_id="run_dbt", bash_command="cd /opt/dbt && dbt build")

    extract_flight_data >> upload_to_gcs >> load_to_snowflake >> quality_check >> run_dbt
