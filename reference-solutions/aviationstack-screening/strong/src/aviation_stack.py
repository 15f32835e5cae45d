"""Extract flight data from the AviationStack Flights API.

Choice for the exercise: the function talks to whatever `base_url` points at, so
it runs against the real API with a free key or against a local mock (see
NOTES.md); nothing in the code depends on which.
"""

import logging
import os
import time

import requests

DEFAULT_BASE_URL = "http://api.aviationstack.com/v1"

# Transient by nature: the same request may succeed a little later.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0

FIELDS = ("flight_date", "flight_status", "departure_airport", "arrival_airport", "airline_name")

log = logging.getLogger(__name__)


class AviationStackError(Exception):
    """The API could not deliver the flights (HTTP error, API error object, bad response)."""

    def __init__(self, message, *, code=None, status=None):
        super().__init__(message)
        self.code = code
        self.status = status


def fetch_flights(
    access_key=None,
    base_url=None,
    *,
    flight_date=None,
    limit=100,
    timeout=10.0,
    max_retries=3,
) -> list[dict]:
    """Fetch every flight the Flights API returns, as a list of flat records.

    Args:
        access_key: AviationStack access key; defaults to the environment
            variable AVIATIONSTACK_ACCESS_KEY.
        base_url: API root; defaults to the environment variable
            AVIATIONSTACK_BASE_URL, else DEFAULT_BASE_URL. Requests go to
            GET {base_url}/flights.
        flight_date: optional "YYYY-MM-DD" to restrict the flights to one day.
        limit: page size asked of the API.
        timeout: seconds to wait for each HTTP request.
        max_retries: how many times a failed request may be retried.

    Returns:
        One dict per flight with the keys flight_date, flight_status,
        departure_airport, arrival_airport and airline_name.

    Raises:
        AviationStackError: when the API cannot deliver the data. Its message
        never contains the access key.
    """
    access_key = access_key or os.environ.get("AVIATIONSTACK_ACCESS_KEY")
    if not access_key:
        raise AviationStackError("no access key: set AVIATIONSTACK_ACCESS_KEY")
    base_url = (base_url or os.environ.get("AVIATIONSTACK_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    url = f"{base_url}/flights"

    flights = []
    offset = 0
    with requests.Session() as session:
        while True:
            params = {"access_key": access_key, "limit": limit, "offset": offset}
            if flight_date:
                params["flight_date"] = flight_date
            payload = _get_page(session, url, params, timeout, max_retries, access_key)

            page = payload.get("data") or []
            flights.extend(_to_record(item) for item in page)

            pagination = payload.get("pagination") or {}
            count = pagination.get("count", len(page))
            total = pagination.get("total")
            offset += count
            # An empty page or a missing total would otherwise loop forever.
            if not count or total is None or offset >= total:
                break

    log.info("fetched %d flights (flight_date=%s)", len(flights), flight_date)
    return flights


def _get_page(session, url, params, timeout, max_retries, access_key):
    """One page, retried on transient failures; returns the decoded JSON object."""
    for attempt in range(max_retries + 1):
        last_attempt = attempt == max_retries
        response, problem = _send(session, url, params, timeout)
        if response is None:
            if last_attempt:
                raise AviationStackError(f"request failed after {attempt + 1} attempts: {problem}")
            _backoff(attempt, None, problem, params["offset"])
            continue

        if response.status_code in RETRYABLE_STATUS:
            code, message = _api_error(response, access_key)
            problem = f"HTTP {response.status_code}" + (f" {code}" if code else "")
            if last_attempt:
                raise AviationStackError(
                    f"{problem} after {attempt + 1} attempts: {message or response.reason}",
                    code=code,
                    status=response.status_code,
                )
            _backoff(attempt, response.headers.get("Retry-After"), problem, params["offset"])
            continue

        if response.status_code >= 400:
            # 401 invalid_access_key, 403 function_access_restricted, 404...: retrying cannot help.
            code, message = _api_error(response, access_key)
            raise AviationStackError(
                f"HTTP {response.status_code} {code or ''}: {message or response.reason}".strip(),
                code=code,
                status=response.status_code,
            )

        payload = _json_or_none(response)
        if payload is None:
            raise AviationStackError(
                f"malformed JSON from the API (HTTP {response.status_code})",
                status=response.status_code,
            )
        if not isinstance(payload, dict):
            raise AviationStackError("unexpected response: not a JSON object")
        if "error" in payload:
            # AviationStack reports some errors with HTTP 200 and an error object.
            code, message = _error_fields(payload.get("error"), access_key)
            raise AviationStackError(
                f"API error {code}: {message}", code=code, status=response.status_code
            )
        return payload

    raise AssertionError("unreachable: the loop returns or raises")


def _send(session, url, params, timeout):
    """(response, None), or (None, what went wrong) on a timeout or connection error.

    The requests exception is not kept: its text holds the URL and with it the
    access key, and an exception raised inside `except` would chain to it.
    """
    try:
        return session.get(url, params=params, timeout=timeout), None
    except requests.Timeout:
        return None, f"no response within the {timeout}s timeout"
    except requests.ConnectionError:
        return None, "connection error"


def _json_or_none(response):
    try:
        return response.json()
    except ValueError:
        return None


def _backoff(attempt, retry_after, problem, offset):
    delay = min(BACKOFF_BASE_SECONDS * 2**attempt, BACKOFF_CAP_SECONDS)
    try:
        # Honour the server's hint when it asks for longer than our own schedule.
        delay = max(delay, min(float(retry_after), BACKOFF_CAP_SECONDS))
    except (TypeError, ValueError):
        pass
    log.warning("%s at offset %s; retry %d in %.1fs", problem, offset, attempt + 1, delay)
    time.sleep(delay)


def _api_error(response, access_key):
    """(code, message) from an error body, or (None, None) when it is not one."""
    payload = _json_or_none(response)
    if isinstance(payload, dict) and "error" in payload:
        return _error_fields(payload["error"], access_key)
    return None, None


def _error_fields(error, access_key):
    if not isinstance(error, dict):
        return "unknown_error", _redact(str(error), access_key)
    code = error.get("code") or error.get("type") or "unknown_error"
    message = error.get("message") or error.get("info") or ""
    return _redact(str(code), access_key), _redact(str(message), access_key)


def _redact(text, access_key):
    return text.replace(access_key, "***") if access_key else text


def _to_record(item):
    """Flatten one API flight; absent objects or fields become None."""
    item = item if isinstance(item, dict) else {}
    departure = item.get("departure") if isinstance(item.get("departure"), dict) else {}
    arrival = item.get("arrival") if isinstance(item.get("arrival"), dict) else {}
    airline = item.get("airline") if isinstance(item.get("airline"), dict) else {}
    return {
        "flight_date": item.get("flight_date"),
        "flight_status": item.get("flight_status"),
        "departure_airport": departure.get("airport"),
        "arrival_airport": arrival.get("airport"),
        "airline_name": airline.get("name"),
    }
