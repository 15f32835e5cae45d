"""Daily flight data pipeline: AviationStack -> GCS -> Snowflake -> dbt."""

from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator

from src.aviation_stack import fetch_flights
from src.gcs import upload_json
from src.snowflake import get_connection, load_from_gcs


def extract():
    today = datetime.now().strftime("%Y-%m-%d")
    return fetch_flights(flight_date=today)


def upload(ti):
    records = ti.xcom_pull(task_ids="extract_flight_data")
    today = datetime.now().strftime("%Y-%m-%d")
    return upload_json("flights-bucket", records, today)


def load(ti):
    uri = ti.xcom_pull(task_ids="upload_to_gcs")
    today = datetime.now().strftime("%Y-%m-%d")
    load_from_gcs(get_connection(), uri, today)


with DAG(
    dag_id="flight_data",
    start_date=datetime(2025, 1, 1),
    schedule_interval="@daily",
) as dag:
    extract_flight_data = PythonOperator(task_id="extract_flight_data", python_callable=extract)
    upload_to_gcs = PythonOperator(task_id="upload_to_gcs", python_callable=upload)
    load_to_snowflake = PythonOperator(task_id="load_to_snowflake", python_callable=load)
    run_dbt = BashOperator(task_id="run_dbt", bash_command="cd /opt/dbt && dbt run")

    extract_flight_data >> upload_to_gcs >> load_to_snowflake >> run_dbt
