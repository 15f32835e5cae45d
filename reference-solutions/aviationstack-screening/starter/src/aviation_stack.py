"""Extract flight data from the AviationStack Flights API."""

import os  # noqa: F401  (the defaults below come from the environment)

DEFAULT_BASE_URL = "http://api.aviationstack.com/v1"


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
        AviationStackError: when the API cannot deliver the data.
    """
    raise NotImplementedError("Part 2: implement fetch_flights")
