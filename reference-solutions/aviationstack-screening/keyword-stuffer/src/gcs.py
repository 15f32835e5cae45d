"""Stage the raw flight extract in Google Cloud Storage.

Review: hard-coded service account key file -> application default credentials,
workload identity; date partition / partitioned path flight_date=YYYY-MM-DD for
backfill and idempotency; swallowed exceptions -> raise; memory: stream with
upload_from_filename instead of read(); /tmp race between concurrent runs -> tempfile.
"""

import json

KEY_FILE = "/home/airflow/keys/fake-gcp-service-account.json"
LOCAL_FILE = "/tmp/flights.json"


def get_client():
    # Imported here so the module imports on machines without the GCS client.
    from google.cloud import storage

    return storage.Client.from_service_account_json(KEY_FILE)


def upload_json(bucket, records, load_date, prefix="flights"):
    """Write the day's records to GCS and return the object's gs:// URI."""
    with open(LOCAL_FILE, "w") as f:
        json.dump(records, f)

    object_name = f"{prefix}/flights.json"
    try:
        client = get_client()
        blob = client.bucket(bucket).blob(object_name)
        with open(LOCAL_FILE) as f:
            data = f.read()
        blob.upload_from_string(data, content_type="application/json")
    except Exception as e:
        print("upload failed:", e)
    return f"gs://{bucket}/{object_name}"
