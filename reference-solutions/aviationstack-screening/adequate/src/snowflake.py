"""Load AviationStack flight records into Snowflake.

The flight_data DAG calls these after the day's extract has landed in GCS.
"""

import os

import snowflake.connector

COLUMNS = ["flight_date", "flight_status", "departure_airport", "arrival_airport", "airline_name", "load_date"]


def get_connection():
    # CRITICAL: credentials were hard-coded in the code; read them from env vars instead
    conn = snowflake.connector.connect(
        user=os.environ["SNOWFLAKE_USER"],
        password=os.environ["SNOWFLAKE_PASSWORD"],
        account=os.environ["SNOWFLAKE_ACCOUNT"],
        warehouse=os.environ.get("SNOWFLAKE_WAREHOUSE", "LOADING_WH"),
        database=os.environ.get("SNOWFLAKE_DATABASE", "AVIATION"),
        schema=os.environ.get("SNOWFLAKE_SCHEMA", "RAW"),
    )
    return conn


def load_flights(conn, records, load_date, table="RAW.FLIGHTS"):
    """Load one day's flight records, replacing what was loaded for that day."""
    if conn is None:
        conn = get_connection()
    cursor = conn.cursor()
    try:
        # CRITICAL: the original only appended, so re-running a day duplicated it.
        # Delete the day first so the load is idempotent.
        cursor.execute(f"DELETE FROM {table} WHERE load_date = %s", (load_date,))

        # CRITICAL: values were put into the SQL with an f-string (SQL injection).
        # Use parameters instead, and executemany instead of one insert per row.
        sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
        rows = [
            (
                r.get("flight_date"),
                r.get("flight_status"),
                r.get("departure_airport"),
                r.get("arrival_airport"),
                r.get("airline_name"),
                load_date,
            )
            for r in records
        ]
        if rows:
            cursor.executemany(sql, rows)
        # MAJOR: the bare except hid failed inserts; errors now propagate.
        conn.commit()
    finally:
        cursor.close()

    return len(rows)


def load_from_gcs(conn, gcs_uri, load_date, table="RAW.FLIGHTS"):
    """Copy a day's JSON file from the GCS stage into the raw flights table."""
    conn = conn or get_connection()
    cur = conn.cursor()
    # MAJOR: ON_ERROR = 'CONTINUE' silently skips bad rows; FORCE = TRUE reloads the same file
    # every time, which duplicates data. Not fixed yet.
    cur.execute(
        f"COPY INTO {table} FROM '{gcs_uri}' "
        "STORAGE_INTEGRATION = GCS_INT "
        "FILE_FORMAT = (TYPE = 'JSON' STRIP_OUTER_ARRAY = TRUE) "
        "MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE "
        "ON_ERROR = 'CONTINUE' FORCE = TRUE"
    )
    return cur.fetchall()
