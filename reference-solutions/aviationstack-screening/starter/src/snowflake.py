"""Load AviationStack flight records into Snowflake.

The flight_data DAG calls these after the day's extract has landed in GCS.
"""

import snowflake.connector


def get_connection():
    conn = snowflake.connector.connect(
        user="ETL_LOADER",
        password="fake-password-not-real-123",
        account="example-org-fake-account",
        warehouse="LOADING_WH",
        database="AVIATION",
        schema="RAW",
    )
    return conn


def load_flights(conn, records, load_date, table="RAW.FLIGHTS"):
    """Insert one day's flight records into the raw flights table."""
    if conn is None:
        conn = get_connection()
    cursor = conn.cursor()
    for record in records:
        try:
            sql = f"INSERT INTO {table} VALUES ('{record['flight_date']}', '{record['flight_status']}', '{record['departure_airport']}', '{record['arrival_airport']}', '{record['airline_name']}', '{load_date}')"
            cursor.execute(sql)
        except:
            print("could not insert", record)
    conn.commit()

    cursor.execute(f"SELECT * FROM {table} WHERE load_date = '{load_date}'")
    rows = cursor.fetchall()
    print(f"loaded {len(rows)} rows into {table}")
    return len(rows)


def load_from_gcs(conn, gcs_uri, load_date, table="RAW.FLIGHTS"):
    """Copy a day's JSON file from the GCS stage into the raw flights table."""
    conn = conn or get_connection()
    cur = conn.cursor()
    cur.execute(
        f"COPY INTO {table} FROM '{gcs_uri}' "
        "STORAGE_INTEGRATION = GCS_INT "
        "FILE_FORMAT = (TYPE = 'JSON' STRIP_OUTER_ARRAY = TRUE) "
        "MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE "
        "ON_ERROR = 'CONTINUE' FORCE = TRUE"
    )
    return cur.fetchall()
