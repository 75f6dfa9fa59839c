"""VAT per component, the 2.3.0 tax bases, min/max price, and the one rounding at the end."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.price import PriceResult
from app.price.money import minor_unit_digits, round_money, split_tax
from tests.price.helpers import (
    component,
    d,
    element,
    period,
    price_cdr,
    stored,
    tariff,
    totals,
)

START, END = "2024-01-15T10:00:00Z", "2024-01-15T11:00:00Z"


def _one_hour(t: dict[str, Any], version: str | None = None, **volumes: str) -> PriceResult:
    return price_cdr([stored(t, version)], START, END, period(START, **volumes))


def test_vat_per_component() -> None:
    # FLAT 1.00 at 21 %, ENERGY 10 kWh × 0.30 at 6 %, TIME 1 h × 1.00 without vat (2.2.1: no
    # VAT applicable). excl 1.00 + 3.00 + 1.00 = 5.00; incl 1.21 + 3.18 + 1.00 = 5.39
    t = tariff(
        element(
            component("FLAT", "1.00", vat="21"),
            component("ENERGY", "0.30", vat="6"),
            component("TIME", "1.00"),
        )
    )
    result = _one_hour(t, ENERGY="10", TIME="1")
    assert totals(result) == (d("5.00"), d("5.39"))


def test_2_3_0_tax_bases() -> None:
    base = tariff(element(component("ENERGY", "0.595", vat="19")))
    # YES: 0.595 incl. 19 % → 10 kWh: incl 5.95, excl 5.95 / 1.19 = 5.00
    incl = _one_hour({**base, "tax_included": "YES"}, "2.3.0", ENERGY="10")
    assert totals(incl) == (d("5.00"), d("5.95"))
    # NO: 0.595 excl. + 19 % → 5.95 and 7.0805 → 7.08
    excl = _one_hour({**base, "tax_included": "NO"}, "2.3.0", ENERGY="10")
    assert totals(excl) == (d("5.95"), d("7.08"))
    # N/A: no taxes apply, the vat is ignored: 5.95 on both sides
    none = _one_hour({**base, "tax_included": "N/A"}, "2.3.0", ENERGY="10")
    assert totals(none) == (d("5.95"), d("5.95"))


def test_rounded_once_at_the_end_half_up() -> None:
    # Three periods of 1.005 kWh at 1.00 €/kWh: each 1.005 (would be 1.01 if rounded per
    # line: 3.03), the session 3.015 → 3.02 once. VAT 10 %: 3.3165 → 3.32
    t = stored(tariff(element(component("ENERGY", "1.00", vat="10"))))
    result = price_cdr(
        [t],
        START,
        END,
        period(START, ENERGY="1.005"),
        period("2024-01-15T10:20:00Z", ENERGY="1.005"),
        period("2024-01-15T10:40:00Z", ENERGY="1.005"),
    )
    assert totals(result) == (d("3.02"), d("3.32"))
    assert [x.cost.excl_vat for x in result.breakdown] == [d("1.005")] * 3  # exact lines


def test_currency_minor_units() -> None:
    assert (minor_unit_digits("EUR"), minor_unit_digits("JPY"), minor_unit_digits("KWD")) == (
        2,
        0,
        3,
    )
    assert round_money(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert round_money(Decimal("1.2345"), "KWD") == Decimal("1.235")
    assert round_money(Decimal("-0.001"), "EUR") == Decimal("0.00")  # never "-0.00"
    yen = _one_hour(tariff(element(component("ENERGY", "35.5")), currency="JPY"), ENERGY="11")
    assert yen.total_cost.excl_vat == Decimal("391")  # 390.5 → 391


def test_split_tax() -> None:
    assert split_tax(d("10"), d("20"), "EXCL") == (d("10"), d("12"))
    assert split_tax(d("12"), d("20"), "INCL") == (d("10"), d("12"))
    assert split_tax(d("10"), None, "EXCL") == (d("10"), None)
    assert split_tax(d("10"), None, "INCL") == (None, d("10"))
    assert split_tax(d("0"), None, "INCL") == (d("0"), d("0"))
    assert split_tax(d("10"), d("20"), "NONE") == (d("10"), d("10"))


def test_max_price_without_incl_vat_moves_incl_in_proportion() -> None:
    # max_price {excl 10} only. 50 kWh × 0.30 = 15.00 excl, 18.00 incl (20 %): excl capped at
    # 10.00, incl moved in proportion: 18.00 × 10 / 15 = 12.00
    t = tariff(element(component("ENERGY", "0.30", vat="20")), max_price={"excl_vat": "10"})
    result = _one_hour(t, ENERGY="50")
    assert totals(result) == (d("10.00"), d("12.00"))


def test_min_price_on_a_free_session_with_unknown_incl() -> None:
    # min_price {excl 1.00}, nothing consumed but time (not priced): excl lifted to 1.00; the
    # incl. side has no ratio to carry over and no bound of its own: unknown.
    t = tariff(element(component("ENERGY", "0.30", vat="20")), min_price={"excl_vat": "1.00"})
    result = _one_hour(t, TIME="1")
    assert totals(result) == (d("1.00"), None)


def test_min_and_max_bound_excl_and_incl_separately() -> None:
    # min {excl 2.00, incl 2.50}: 5 kWh × 0.30 = 1.50 / 1.80 → 2.00 / 2.50
    # max {excl 3.00, incl 3.30}: 11 kWh = 3.30 / 3.96 → 3.00 / 3.30
    t = tariff(
        element(component("ENERGY", "0.30", vat="20")),
        min_price={"excl_vat": "2.00", "incl_vat": "2.50"},
        max_price={"excl_vat": "3.00", "incl_vat": "3.30"},
    )
    assert totals(_one_hour(t, ENERGY="5")) == (d("2.00"), d("2.50"))
    assert totals(_one_hour(t, ENERGY="11")) == (d("3.00"), d("3.30"))
