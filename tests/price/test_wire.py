"""Strict request decoding: bad values are refused with the path of the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.price import PriceRequestError, decode_plan, decode_price_request, decode_tariff
from tests.price.helpers import component, element, period, session_json, spec, tariff

START, END = "2024-01-15T10:00:00Z", "2024-01-15T11:00:00Z"
GOOD_SESSION = session_json(START, END, period(START, ENERGY="10", TIME="1"))


def _request(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ocpi_version": "2.2.1",
        "tariffs": [
            tariff(
                element(component("FLAT", "1")),
                element(component("ENERGY", "0.30"), component("TIME", "2")),
            )
        ],
        "session": GOOD_SESSION,
    }
    body.update(changes)
    return body


def _refusal(body: dict[str, Any] | str) -> str:
    with pytest.raises(PriceRequestError) as refused:
        decode_price_request(body if isinstance(body, str) else json.dumps(body))
    return str(refused.value)


def _with_tariff(**changes: Any) -> dict[str, Any]:
    body = _request()
    body["tariffs"][0].update(changes)
    return body


def _with_component(index: int, **changes: Any) -> dict[str, Any]:
    body = _request()
    body["tariffs"][0]["elements"][1]["price_components"][index].update(changes)
    return body


def test_a_good_request_decodes() -> None:
    request = decode_price_request(json.dumps(_request()))
    assert request.tariffs[0].id == "T1"
    assert len(request.session.periods) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            _with_component(0, step_size=-1),
            "tariffs[0].elements[1].price_components[0].step_size: must be ≥ 0",
        ),
        (
            _with_component(0, step_size=1.5),
            "tariffs[0].elements[1].price_components[0].step_size: "
            "must be an integer, not a number",
        ),
        (
            _with_component(0, price="-0.30"),
            "tariffs[0].elements[1].price_components[0].price: must be ≥ 0",
        ),
        (
            _with_component(0, price="NaN"),
            "tariffs[0].elements[1].price_components[0].price: must be a finite number",
        ),
        (
            _with_component(0, price="cheap"),
            "tariffs[0].elements[1].price_components[0].price: must be a number",
        ),
        (
            _with_component(0, vat="120"),
            "tariffs[0].elements[1].price_components[0].vat: must be ≤ 100",
        ),
        (
            _with_component(0, type="KWH"),
            "tariffs[0].elements[1].price_components[0].type: unknown dimension type 'KWH'",
        ),
        (
            _with_component(1, type="ENERGY"),
            "tariffs[0].elements[1].price_components[1].type: a second ENERGY component",
        ),
        (
            _with_tariff(currency="euro"),
            "tariffs[0].currency: must be an ISO 4217 code (3 capital letters)",
        ),
        (_with_tariff(elements=[]), "tariffs[0].elements: must not be empty"),
        (_with_tariff(last_updated=None), "tariffs[0].last_updated: must be a date-time, not null"),
        (_with_tariff(type="CHEAP"), "tariffs[0].type: unknown value 'CHEAP'"),
        (
            _with_tariff(min_price={"excl_vat": "5"}, max_price={"excl_vat": "4"}),
            "tariffs[0].max_price: must not be below min_price",
        ),
        (
            _with_tariff(
                start_date_time="2024-02-01T00:00:00Z", end_date_time="2024-01-01T00:00:00Z"
            ),
            "tariffs[0].end_date_time: must be after start_date_time",
        ),
        (_request(tariffs=[]), "tariffs: must not be empty"),
        (
            _request(time_zone="Mars/Olympus"),
            "time_zone: unknown IANA time zone 'Mars/Olympus'",
        ),
        (_request(ocpi_version="9.9"), "ocpi_version: unknown value '9.9'"),
        (_request(plan={"start_date_time": START}), "plan.energy_kwh: required"),
        (_request(session=None), "give exactly one of session and plan"),
    ],
)
def test_tariff_and_request_refusals(body: dict[str, Any], message: str) -> None:
    assert _refusal(body) == message


def _restricted(**restrictions: Any) -> dict[str, Any]:
    body = _request()
    body["tariffs"][0]["elements"][1]["restrictions"] = restrictions
    return body


@pytest.mark.parametrize(
    ("restrictions", "message"),
    [
        ({"start_time": "9:00"}, "start_time: must be HH:MM, 00:00–23:59"),
        ({"end_time": "24:00"}, "end_time: must be HH:MM, 00:00–23:59"),
        ({"start_date": "2024-02-30"}, "start_date: '2024-02-30' is not a calendar date"),
        ({"start_date": "15.01.2024"}, "start_date: must be YYYY-MM-DD"),
        (
            {"start_date": "2024-02-01", "end_date": "2024-01-01"},
            "end_date: must be after start_date (it is exclusive)",
        ),
        ({"min_kwh": "20", "max_kwh": "10"}, "max_kwh: must be greater than min_kwh"),
        (
            {"min_duration": 600, "max_duration": 600},
            "max_duration: must be greater than min_duration",
        ),
        ({"max_current": "-16"}, "max_current: must be ≥ 0"),
        ({"min_duration": -1}, "min_duration: must be ≥ 0"),
        ({"day_of_week": ["MONDAY", "FUNDAY"]}, "day_of_week[1]: unknown value 'FUNDAY'"),
        ({"reservation": "YES"}, "reservation: unknown value 'YES'"),
        (
            {"reservation": "RESERVATION"},
            "price_components[0].type: a reservation element may only price FLAT and TIME",
        ),
    ],
)
def test_restriction_refusals(restrictions: dict[str, Any], message: str) -> None:
    refusal = _refusal(_restricted(**restrictions))
    prefix = "tariffs[0].elements[1]."
    expected = (
        prefix + ("" if message.startswith("price_components") else "restrictions.") + message
    )
    assert refusal == expected


def _periods(*periods: dict[str, Any], start: str = START, end: str = END) -> dict[str, Any]:
    return _request(session=session_json(start, end, *periods))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            _periods(period(START, ENERGY="1"), start=END, end=START),
            "session.end_date_time: must be after start_date_time",
        ),
        (
            _periods(period(START, FOO="1")),
            "session.charging_periods[0].dimensions[0].type: unknown dimension type 'FOO'",
        ),
        (
            _periods(period(START, ENERGY="-1")),
            "session.charging_periods[0].dimensions[0].volume: must be ≥ 0",
        ),
        (
            _periods(period(START, ENERGY="1"), period("2024-01-15T09:00:00Z", ENERGY="1")),
            "session.charging_periods[1].start_date_time: "
            "must lie inside the session (start ≤ it < end)",
        ),
        (
            _periods(
                period("2024-01-15T10:30:00Z", ENERGY="1"),
                period("2024-01-15T10:10:00Z", ENERGY="1"),
            ),
            "session.charging_periods[1].start_date_time: "
            "must be after charging_periods[0].start_date_time",
        ),
        (
            _periods(period(START, TIME="0.75", PARKING_TIME="0.5")),
            "session.charging_periods[0].dimensions: TIME + PARKING_TIME + RESERVATION_TIME "
            "(1.2500 h) exceed the period (1.0000 h)",
        ),
        (
            _periods(
                {
                    "start_date_time": START,
                    "dimensions": [
                        {"type": "ENERGY", "volume": 1},
                        {"type": "ENERGY", "volume": 2},
                    ],
                }
            ),
            "session.charging_periods[0].dimensions[1].type: a second ENERGY volume",
        ),
        (
            _periods({**period(START, ENERGY="1"), "tariff_id": "NOPE"}),
            "session.charging_periods[0].tariff_id: no tariff with id 'NOPE' in tariffs",
        ),
        (
            _periods({"start_date_time": START, "dimensions": []}),
            "session.charging_periods[0].dimensions: must not be empty",
        ),
        (
            _periods(
                {"start_date_time": "yesterday", "dimensions": [{"type": "TIME", "volume": 1}]}
            ),
            "session.charging_periods[0].start_date_time: must be an RFC 3339 date-time",
        ),
    ],
)
def test_session_refusals(body: dict[str, Any], message: str) -> None:
    assert _refusal(body) == message


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({"energy_kwh": "-5"}, "plan.energy_kwh: must be ≥ 0"),
        ({"car_max_power_kw": "0"}, "plan.car_max_power_kw: must be > 0"),
        ({"parked_after_charging_min": "-1"}, "plan.parked_after_charging_min: must be ≥ 0"),
        ({"energy_kwh": "0"}, "plan: nothing to price: the session would last under 1 s"),
        ({"energy_kwh": "100000"}, "plan: the planned session would last more than 7 days"),
        ({"current_a": "0"}, "plan.current_a: must be > 0"),
    ],
)
def test_plan_refusals(plan: dict[str, Any], message: str) -> None:
    good = {
        "start_date_time": START,
        "energy_kwh": "20",
        "car_max_power_kw": "11",
        "charger_max_power_kw": "22",
    }
    assert _refusal(_request(session=None, plan={**good, **plan})) == message


def test_duplicate_tariff_ids_are_refused() -> None:
    t = _request()["tariffs"][0]
    assert _refusal(_request(tariffs=[t, t])) == "tariffs[1].id: same id as tariffs[0]"


def test_malformed_json() -> None:
    assert _refusal("{").startswith("malformed JSON")


def test_version_shapes() -> None:
    # 2.3.0 needs tax_included and the PriceLimit shape; 2.1.1 needs no owner fields.
    t230 = spec("tariff_12_025kwh_min_price.json", "2.3.0")
    assert decode_tariff(json.dumps(t230), "2.3.0").min_price is not None
    with pytest.raises(PriceRequestError, match=r"^tax_included: required$"):
        decode_tariff(json.dumps({k: v for k, v in t230.items() if k != "tax_included"}), "2.3.0")
    with pytest.raises(PriceRequestError, match=r"^min_price.before_taxes: required$"):
        decode_tariff(json.dumps({**t230, "min_price": {"excl_vat": 1}}), "2.3.0")
    with pytest.raises(PriceRequestError, match=r"^country_code: required$"):
        decode_tariff(
            json.dumps(spec("tariffs_03_simple_tariff_example_2_euro_per_hour.json", "2.1.1")),
            "2.2.1",
        )
    # Unknown fields are ignored (ocpi.md §6 P21): energy_mix, tariff_alt_url, extensions.
    assert decode_tariff(json.dumps({**t230, "x_custom": {"a": 1}}), "2.3.0").id == "20"


def test_decode_plan_standalone() -> None:
    plan = decode_plan(
        json.dumps(
            {
                "start_date_time": START,
                "energy_kwh": 30,
                "car_max_power_kw": 11,
                "charger_max_power_kw": 22,
            }
        )
    )
    assert plan.energy_kwh == 30
    with pytest.raises(PriceRequestError, match=r"^plan.car_max_power_kw: required$"):
        decode_plan(
            json.dumps({"start_date_time": START, "energy_kwh": 30, "charger_max_power_kw": 22})
        )
