"""Extract flight data from the AviationStack Flights API."""

import os

import requests

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
    """Fetch flights from the API and return the fields we need."""
    access_key = access_key or os.environ.get("AVIATIONSTACK_ACCESS_KEY")
    base_url = base_url or os.environ.get("AVIATIONSTACK_BASE_URL", DEFAULT_BASE_URL)

    params = {"access_key": access_key, "limit": limit}
    if flight_date:
        params["flight_date"] = flight_date

    try:
        response = requests.get(base_url + "/flights", params=params)
        response.raise_for_status()
        data = response.json()["data"]
    except Exception as e:
        print("Error fetching flights:", e)
        return []

    results = []
    for flight in data:
        results.append(
            {
                "flight_date": flight["flight_date"],
                "flight_status": flight["flight_status"],
                "departure_airport": flight["departure"]["airport"],
                "arrival_airport": flight["arrival"]["airport"],
                "airline_name": flight["airline"]["name"],
            }
        )
    return results
