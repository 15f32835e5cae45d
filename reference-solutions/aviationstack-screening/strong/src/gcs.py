"""Stage the raw flight extract in Google Cloud Storage.

Review findings (Part 3) are marked `REVIEW <severity>` next to the code that
replaced the problem.
"""

import json
import logging

log = logging.getLogger(__name__)


def get_client(project=None):
    """A storage client with application-default credentials."""
    # REVIEW major (hard-coded key file): the client was built from a service-account
    # key file at a fixed path: a long-lived secret on disk, and the path differs per
    # machine. Application-default credentials (workload identity, or the Airflow
    # GCP connection's GOOGLE_APPLICATION_CREDENTIALS) need nothing in the code.
    # Imported here so the module imports on machines without the GCS client.
    from google.cloud import storage

    return storage.Client(project=project)


def object_name(load_date, prefix="flights"):
    """Date-partitioned object name of one day's extract."""
    return f"{prefix}/flight_date={load_date}/flights.json"


def upload_json(bucket, records, load_date, prefix="flights", client=None):
    """Write the day's records to GCS and return the object's gs:// URI.

    Overwriting the day's object is intended: a rerun of the same day replaces
    its file, and the Snowflake load replaces the day's partition from it.
    """
    # REVIEW minor (shared local file): every run wrote /tmp/flights.json, so two
    # runs (a backfill next to the daily run) overwrote each other's file, and it
    # was never removed. The JSON is serialised in memory; no local file at all.
    # REVIEW minor (whole file in memory): the file was written, then read back
    # whole with f.read() just to upload it. For one day of flights (a few MB) one
    # in-memory string is fine; a larger extract would stream with upload_from_file.
    payload = json.dumps(records, separators=(",", ":"), default=str)

    # REVIEW critical (no partition): every day went to flights/flights.json, so
    # each run overwrote the last, history was lost and a backfill clobbered the
    # current day. The path is partitioned by the run's date now.
    name = object_name(load_date, prefix)
    client = client or get_client()
    # REVIEW critical (errors swallowed): the upload error was printed and the URI
    # returned anyway, so the load went on with a missing or stale file. Errors
    # propagate now and fail the task.
    blob = client.bucket(bucket).blob(name)
    blob.upload_from_string(payload, content_type="application/json")
    uri = f"gs://{bucket}/{name}"
    log.info("uploaded %d records to %s", len(records), uri)
    return uri
