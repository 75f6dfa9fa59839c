"""Money arithmetic: Decimal only, taxes per price component, one rounding at the end.

OCPI defines no rounding (mod_tariffs note, ocpi.md §4.3: law, contract and currency decide).
We keep every intermediate amount exact and round each reported total once, to the currency's
minor unit with ROUND_HALF_UP, which is what the spec's worked examples show (tariff_3: 20.5 kWh ×
0.25 = 5.125 is printed as 5.13).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal

# How a Tariff's prices relate to taxes (ocpi.md §4.4, §4.9):
# EXCL: price excl. VAT (2.1.1, 2.2, 2.2.1; 2.3.0 tax_included=NO), VAT % added on top;
# INCL: price incl. taxes (2.3.0 tax_included=YES), VAT % is contained in it;
# NONE: no taxes apply (2.3.0 tax_included=N/A), excl. and incl. are the same amount.
TaxBasis = Literal["EXCL", "INCL", "NONE"]

ZERO: Final = Decimal(0)
HUNDRED: Final = Decimal(100)
SECONDS_PER_HOUR: Final = Decimal(3600)
WH_PER_KWH: Final = Decimal(1000)

# ISO 4217 minor units that are not 2 (the default).
_MINOR_UNITS: Final = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
_QUANTA: Final = {digits: Decimal(1).scaleb(-digits) for digits in (0, 2, 3, 4)}


def minor_unit_digits(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


def round_money(amount: Decimal | None, currency: str) -> Decimal | None:
    """``amount`` rounded half-up to the currency's minor unit; ``+ 0`` avoids ``-0.00``."""
    if amount is None:
        return None
    return amount.quantize(_QUANTA[minor_unit_digits(currency)], ROUND_HALF_UP) + 0


def split_tax(
    amount: Decimal, vat_percent: Decimal | None, basis: TaxBasis
) -> tuple[Decimal | None, Decimal | None]:
    """``(excl_vat, incl_vat)`` of an amount stated on ``basis``; None where the VAT percentage
    needed to get there is unknown. A zero amount is zero on both sides whatever the VAT."""
    if basis == "NONE" or not amount:
        return amount, amount
    if basis == "EXCL":
        if vat_percent is None:
            return amount, None
        return amount, amount * (HUNDRED + vat_percent) / HUNDRED
    if vat_percent is None:
        return None, amount
    return amount * HUNDRED / (HUNDRED + vat_percent), amount


def add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a + b
