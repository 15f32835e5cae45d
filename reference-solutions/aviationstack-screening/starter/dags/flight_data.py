"""Daily flight data pipeline: AviationStack -> GCS -> Snowflake -> dbt.

Skeleton for Part 4 of EXERCISE.md: build the DAG in this file.
"""

from datetime import datetime, timedelta  # noqa: F401

from airflow import DAG  # noqa: F401

# The pipeline's own code lives in src/ at the repository root.
# from src.aviation_stack import fetch_flights
# from src.gcs import upload_json
# from src.snowflake import get_connection, load_from_gcs

# TODO extract_flight_data: call fetch_flights for the day being processed.

# TODO upload_to_gcs: store that day's records in GCS under a date-partitioned path.

# TODO load_to_snowflake: load the day's file into Snowflake, safe to run twice.

# TODO run_dbt: build the dbt models on top of the raw table.

# TODO at least one data-quality check, and the task dependencies.
