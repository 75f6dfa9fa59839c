"""Throughput of the pricing engine on one core: decode a plan request with a 4-element tariff,
price it, (optionally) encode the result. Not a test: run it by hand and report the figure.

    uv run python -m tests.price.throughput
"""

from __future__ import annotations

import json
import platform
import sys
import time

import msgspec

from app.price import decode_price_request, price

TARIFF = {
    "country_code": "DE",
    "party_id": "WAT",
    "id": "4E",
    "currency": "EUR",
    "type": "REGULAR",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.50, "vat": 19, "step_size": 1}]},
        {
            "price_components": [{"type": "ENERGY", "price": 0.39, "vat": 19, "step_size": 1}],
            "restrictions": {"start_time": "07:00", "end_time": "22:00", "min_power": 50},
        },
        {
            "price_components": [{"type": "ENERGY", "price": 0.59, "vat": 19, "step_size": 1}],
        },
        {
            "price_components": [{"type": "PARKING_TIME", "price": 6, "vat": 19, "step_size": 60}],
            "restrictions": {"min_duration": 3600},
        },
    ],
    "last_updated": "2025-01-01T00:00:00Z",
}
REQUEST = json.dumps(
    {
        "ocpi_version": "2.2.1",
        "tariffs": [TARIFF],
        "time_zone": "Europe/Berlin",
        "plan": {
            "start_date_time": "2025-03-14T20:40:00Z",  # 21:40 local: splits at 22:00
            "energy_kwh": 45,
            "car_max_power_kw": 120,
            "charger_max_power_kw": 150,
            "parked_after_charging_min": 50,
        },
    }
).encode()
ENCODER = msgspec.json.Encoder(decimal_format="number")


def run(seconds: float, encode: bool) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(200):
            result = price(decode_price_request(REQUEST))
            if encode:
                ENCODER.encode(result)
        count += 200
    return count / elapsed


def main() -> None:
    result = price(decode_price_request(REQUEST))
    print(ENCODER.encode(result.total_cost).decode(), len(result.breakdown), "breakdown lines")
    run(0.5, encode=False)  # warm up
    print(
        f"Python {sys.version.split()[0]}, msgspec {msgspec.__version__}, "
        f"{platform.machine()} {platform.processor() or ''}".strip()
    )
    print(f"decode + price:          {run(3, encode=False):8.0f} sessions/s")
    print(f"decode + price + encode: {run(3, encode=True):8.0f} sessions/s")


if __name__ == "__main__":
    main()
