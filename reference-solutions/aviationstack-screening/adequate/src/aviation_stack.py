"""Extract flight data from the AviationStack Flights API."""

import logging
import os
import time

import requests

DEFAULT_BASE_URL = "http://api.aviationstack.com/v1"

logger = logging.getLogger(__name__)


class AviationStackError(Exception):
    """The API could not deliver the flights (HTTP error, API error object, bad response)."""


def fetch_flights(
    access_key=None,
    base_url=None,
    *,
    flight_date=None,
    limit=100,
    timeout=10.0,
    max_retries=3,
) -> list[dict]:
    """Fetch every page of flights and return flat records.

    Returns one dict per flight with flight_date, flight_status,
    departure_airport, arrival_airport and airline_name.
    Raises AviationStackError when the API returns an error.
    """
    access_key = access_key or os.environ["AVIATIONSTACK_ACCESS_KEY"]
    base_url = base_url or os.environ.get("AVIATIONSTACK_BASE_URL") or DEFAULT_BASE_URL
    url = f"{base_url}/flights"

    results = []
    offset = 0
    while True:
        params = {"access_key": access_key, "limit": limit, "offset": offset}
        if flight_date:
            params["flight_date"] = flight_date
        payload = _get_with_retries(url, params, timeout, max_retries)

        if "error" in payload:
            error = payload["error"]
            raise AviationStackError(f"{error.get('code')}: {error.get('message')}")

        for flight in payload.get("data", []):
            results.append(_parse_flight(flight))

        pagination = payload.get("pagination", {})
        count = pagination.get("count", 0)
        offset += count
        if count == 0 or offset >= pagination.get("total", 0):
            break

    logger.info("fetched %d flights", len(results))
    return results


def _get_with_retries(url, params, timeout, max_retries):
    for attempt in range(max_retries + 1):
        response = requests.get(url, params=params, timeout=timeout)
        if response.status_code == 200:
            return response.json()
        # server errors, rate limits and auth hiccups are worth another try
        if attempt < max_retries and (response.status_code >= 500 or response.status_code in (401, 429)):
            logger.warning("API returned %s, retrying (attempt %d)", response.status_code, attempt + 1)
            time.sleep(2**attempt)
            continue
        try:
            response.raise_for_status()
        except requests.HTTPError as e:
            raise AviationStackError(f"API request failed: {e}") from e
        return response.json()


def _parse_flight(flight):
    return {
        "flight_date": flight.get("flight_date"),
        "flight_status": flight.get("flight_status"),
        "departure_airport": (flight.get("departure") or {}).get("airport"),
        "arrival_airport": (flight.get("arrival") or {}).get("airport"),
        "airline_name": (flight.get("airline") or {}).get("name"),
    }
