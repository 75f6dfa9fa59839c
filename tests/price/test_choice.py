"""Which tariff prices a session (ocpi.md §4.7, app/price/choice.py), validity windows, and
sessions that switch tariffs (a profile change: each period names its tariff)."""

from __future__ import annotations

from typing import Any

import pytest

from app.price import PriceRequestError
from tests.price.helpers import component, d, element, period, price_request, tariff

START, END = "2024-06-01T10:00:00Z", "2024-06-01T11:00:00Z"
SESSION = {
    "start_date_time": START,
    "end_date_time": END,
    "charging_periods": [period(START, ENERGY="10", TIME="1")],
}


def energy(price: str, **fields: Any) -> dict[str, Any]:
    return tariff(element(component("ENERGY", price)), **fields)


TARIFFS = [
    energy("0.40", id="OLD", type="REGULAR", end_date_time="2024-05-31T23:59:59Z"),
    energy("0.45", id="NEW", type="REGULAR", start_date_time="2024-06-01T00:00:00Z"),
    energy("0.69", id="CARD", type="AD_HOC_PAYMENT"),
    energy("0.30", id="GREEN", type="PROFILE_GREEN"),
]


def _price(tariffs: list[dict[str, Any]], **request: Any) -> Any:
    body = {"ocpi_version": "2.2.1", "tariffs": tariffs, "session": SESSION, **request}
    return price_request(body)


def test_the_tariff_valid_at_session_start_is_used() -> None:
    # OLD ended before the session; NEW (announced with a start) applies: 10 × 0.45 = 4.50
    result = _price(TARIFFS)
    assert (result.tariff_ids, result.total_cost.excl_vat) == (["NEW"], d("4.50"))
    assert result.notes == ["tariff 'NEW' priced the session"]


def test_a_requested_type_is_honoured() -> None:
    assert _price(TARIFFS, tariff_type="AD_HOC_PAYMENT").tariff_ids == ["CARD"]
    assert _price(TARIFFS, tariff_type="PROFILE_GREEN").total_cost.excl_vat == d("3.00")
    # No PROFILE_FAST tariff and none without a type: refused, not guessed.
    with pytest.raises(PriceRequestError, match=r"^tariffs: no tariff of type PROFILE_FAST"):
        _price(TARIFFS, tariff_type="PROFILE_FAST")
    # A tariff without type is valid for all sessions (mod_tariffs Tariff.type).
    untyped = [*TARIFFS, energy("0.50", id="ANY")]
    assert _price(untyped, tariff_type="PROFILE_FAST").tariff_ids == ["ANY"]


def test_periods_that_name_their_tariff() -> None:
    # A profile switch mid-session: each period carries its tariff_id. GREEN 5 kWh × 0.30 =
    # 1.50 then NEW 5 kWh × 0.45 = 2.25 → 3.75; ids are case-insensitive (CiString).
    session = {
        "start_date_time": START,
        "end_date_time": END,
        "charging_periods": [
            {**period(START, ENERGY="5"), "tariff_id": "green"},
            {**period("2024-06-01T10:30:00Z", ENERGY="5"), "tariff_id": "NEW"},
        ],
    }
    result = price_request({"ocpi_version": "2.2.1", "tariffs": TARIFFS, "session": session})
    assert (result.tariff_ids, result.total_cost.excl_vat) == (["GREEN", "NEW"], d("3.75"))


def test_tariffs_used_together_must_share_a_currency() -> None:
    session = {
        "start_date_time": START,
        "end_date_time": END,
        "charging_periods": [
            {**period(START, ENERGY="5"), "tariff_id": "EUR"},
            {**period("2024-06-01T10:30:00Z", ENERGY="5"), "tariff_id": "CHF"},
        ],
    }
    tariffs = [energy("0.30", id="EUR"), energy("0.30", id="CHF", currency="CHF")]
    with pytest.raises(PriceRequestError, match=r"^tariffs: the tariffs used differ in currency"):
        price_request({"ocpi_version": "2.2.1", "tariffs": tariffs, "session": session})


def test_ocpi_2_2_reads_like_2_2_1() -> None:
    result = price_request({"ocpi_version": "2.2", "tariffs": [TARIFFS[1]], "session": SESSION})
    assert result.total_cost.excl_vat == d("4.50")
