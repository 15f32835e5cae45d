"""Load AviationStack flight records into Snowflake.

The flight_data DAG calls these after the day's extract has landed in GCS.

Review findings (Part 3) are marked `REVIEW <severity>` next to the code that
replaced the problem; NOTES.md ranks them.
"""

import datetime as dt
import logging
import os
import re

import snowflake.connector

log = logging.getLogger(__name__)

COLUMNS = ("flight_date", "flight_status", "departure_airport", "arrival_airport", "airline_name")
STAGE = os.environ.get("SNOWFLAKE_FLIGHTS_STAGE", "RAW.GCS_FLIGHTS_STAGE")

# Identifiers cannot be bound as parameters, so names are checked instead.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")
_GCS_URI = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}/(?P<path>[A-Za-z0-9_./=-]+)$")

_REQUIRED_ENV = {"user": "SNOWFLAKE_USER", "password": "SNOWFLAKE_PASSWORD", "account": "SNOWFLAKE_ACCOUNT"}
_OPTIONAL_ENV = {
    "warehouse": "SNOWFLAKE_WAREHOUSE",
    "database": "SNOWFLAKE_DATABASE",
    "schema": "SNOWFLAKE_SCHEMA",
    "role": "SNOWFLAKE_ROLE",
}


def get_connection():
    """Open a Snowflake connection with credentials from the environment."""
    # REVIEW critical (hard-coded credentials): user, password and account were
    # literals in the code: a secret in version control, the same login for every
    # environment, and a password change meant a deploy. They come from the
    # environment now, filled by the Airflow connection / secrets backend; the
    # leaked password has to be rotated.
    missing = [var for var in _REQUIRED_ENV.values() if not os.environ.get(var)]
    if missing:
        raise RuntimeError(f"Snowflake credentials missing from the environment: {', '.join(missing)}")
    params = {name: os.environ[var] for name, var in _REQUIRED_ENV.items()}
    params.update({name: os.environ[var] for name, var in _OPTIONAL_ENV.items() if os.environ.get(var)})
    return snowflake.connector.connect(**params)


def load_flights(conn, records, load_date, table="RAW.FLIGHTS"):
    """Replace the `load_date` partition of `table` with `records`.

    Safe to run any number of times for a day: the day's rows are deleted and
    inserted in one transaction, so a rerun leaves exactly one copy and a
    failure leaves the previous copy untouched. Returns the number of rows loaded.
    """
    _check_identifier(table)
    # REVIEW minor (resources never closed): the cursor, and the connection this
    # function opened itself, were left open; on a busy worker that leaks sessions.
    # The cursor is closed in `finally`, the connection only when we opened it.
    owns_connection = conn is None
    if owns_connection:
        conn = get_connection()
    try:
        # REVIEW minor (no column list): INSERT ... VALUES without columns breaks as
        # soon as the table gains or reorders a column; the columns are named.
        rows = [tuple(record.get(column) for column in COLUMNS) + (load_date,) for record in records]
        insert = (
            f"INSERT INTO {table} ({', '.join(COLUMNS)}, load_date) "
            f"VALUES ({', '.join(['%s'] * (len(COLUMNS) + 1))})"
        )
        cursor = conn.cursor()
        try:
            # REVIEW major (no transaction): each INSERT was its own autocommitted
            # statement, so a failure half-way left part of the day in the table.
            # Now BEGIN ... COMMIT, and rollback on any error.
            cursor.execute("BEGIN")
            # REVIEW critical (not idempotent): the load only appended, so a rerun,
            # a backfill or an Airflow retry duplicated the whole day. The day's
            # partition is deleted and rewritten instead (delete-then-insert; a MERGE
            # would need a natural key the API does not give us).
            cursor.execute(f"DELETE FROM {table} WHERE load_date = %s", (load_date,))
            if rows:
                # REVIEW critical (SQL injection): values were formatted into the SQL
                # with an f-string: a quote in a name (O'Hare) broke the load and a
                # crafted value could run its own SQL. Values are bound parameters now.
                # REVIEW major (row-by-row): one INSERT per record meant a round trip
                # per row; executemany sends the batch at once.
                cursor.executemany(insert, rows)
            conn.commit()
        except Exception:
            # REVIEW major (swallowed errors): the bare `except:` printed and carried
            # on, so rows vanished while the task reported success. Roll back and
            # re-raise so Airflow retries and alerts.
            _rollback_quietly(conn)
            raise
        finally:
            cursor.close()
    finally:
        if owns_connection:
            conn.close()

    # REVIEW minor (SELECT *): the day was read back in full, every column, only to
    # count it; the number of rows inserted is already known.
    log.info("loaded %d rows into %s for load_date=%s", len(rows), table, load_date)
    return len(rows)


def load_from_gcs(conn, gcs_uri, load_date, table="RAW.FLIGHTS"):
    """Replace the `load_date` partition of `table` with the staged JSON file.

    `gcs_uri` is what gcs.upload_json returned (gs://bucket/path); the bucket is
    reachable through the external stage STAGE. Returns the rows loaded.
    """
    _check_identifier(table)
    _check_identifier(STAGE)
    day = dt.date.fromisoformat(str(load_date)).isoformat()
    match = _GCS_URI.match(gcs_uri)
    if not match:
        raise ValueError(f"not a gs:// object URI this loader accepts: {gcs_uri!r}")
    # A COPY location cannot be bound as a parameter; the URI and the date were
    # validated above, so only known characters reach the statement.
    copy = (
        f"COPY INTO {table} ({', '.join(COLUMNS)}, load_date) "
        f"FROM (SELECT $1:flight_date::DATE, $1:flight_status::STRING, "
        f"$1:departure_airport::STRING, $1:arrival_airport::STRING, "
        f"$1:airline_name::STRING, '{day}'::DATE "
        f"FROM @{STAGE}/{match.group('path')}) "
        "FILE_FORMAT = (TYPE = 'JSON' STRIP_OUTER_ARRAY = TRUE) "
        # REVIEW major (ON_ERROR = 'CONTINUE'): rows that failed to parse were
        # skipped without a trace. ABORT_STATEMENT fails the load instead.
        "ON_ERROR = 'ABORT_STATEMENT' "
        # REVIEW major (FORCE = TRUE): on a plain append it reloaded the file on
        # every retry and duplicated the day. Here the day is deleted first in the
        # same transaction, and FORCE is then required: the load history would
        # otherwise skip a file it loaded before and leave the day empty.
        "FORCE = TRUE"
    )
    owns_connection = conn is None
    if owns_connection:
        conn = get_connection()
    try:
        cursor = conn.cursor()
        try:
            cursor.execute("BEGIN")
            cursor.execute(f"DELETE FROM {table} WHERE load_date = %s", (day,))
            cursor.execute(copy)
            results = cursor.fetchall()
            loaded = _check_copy_results(results)
            conn.commit()
        except Exception:
            _rollback_quietly(conn)
            raise
        finally:
            cursor.close()
    finally:
        if owns_connection:
            conn.close()
    log.info("copied %d rows from %s into %s for load_date=%s", loaded, gcs_uri, table, day)
    return loaded


def _check_copy_results(results):
    """Rows loaded according to COPY's per-file result, or an error if any file fell short."""
    loaded = 0
    for row in results or []:
        # COPY INTO returns (file, status, rows_parsed, rows_loaded, ...) per file.
        if len(row) >= 4:
            status, parsed, rows_loaded = row[1], row[2], row[3]
            if status not in ("LOADED", "LOAD_SKIPPED") or parsed != rows_loaded:
                raise RuntimeError(f"COPY INTO fell short for {row[0]}: status={status} parsed={parsed} loaded={rows_loaded}")
            loaded += rows_loaded or 0
    return loaded


def _rollback_quietly(conn):
    # A failed rollback must not hide the error that caused it.
    try:
        conn.rollback()
    except Exception:
        log.exception("rollback failed")


def _check_identifier(name):
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain table identifier: {name!r}")
