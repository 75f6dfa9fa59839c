"""Connector max power (ocpi.md §3.10)."""

from __future__ import annotations

import pytest

from ingest.ocpi.power import connector_max_power_kw


@pytest.mark.parametrize(
    ("power_type", "standard", "volts", "amps", "declared_w", "expected_kw", "note"),
    [
        # DC: V × A, capped by max_electric_power (the spec's own 920 V / 400 A → 150 kW case)
        ("DC", "IEC_62196_T2_COMBO", 920, 400, 150000, 150.0, None),
        ("DC", "CHADEMO", 500, 125, None, 62.5, None),
        # AC 1 phase: V × A
        ("AC_1_PHASE", "IEC_62196_T2", 230, 16, None, 3.7, None),
        # AC 3 phase, line-to-neutral as specified: 3 × V × A
        ("AC_3_PHASE", "IEC_62196_T2", 230, 32, None, 22.1, None),
        # AC 3 phase sent as 400 V line-to-line (the OCN tutorial payload): √3 × V × A, not 38.4 kW
        ("AC_3_PHASE", "IEC_62196_T2", 400, 32, None, 22.2, None),
        ("AC_2_PHASE", "IEC_62196_T2", 230, 16, None, 7.4, None),
        ("AC_2_PHASE_SPLIT", "IEC_62196_T1", 240, 32, None, 7.7, None),
        ("AC_2_PHASE_SPLIT", "IEC_62196_T1", 120, 32, None, 7.7, None),
        # Only max_electric_power known (voltage and amperage 0 in a real feed)
        ("DC", "IEC_62196_T2_COMBO", 0, 0, 120000, 120.0, None),
        # Kilowatts where watts are due (ev24 sends 22 for a 22 kW AC post)
        (
            "AC_3_PHASE",
            "IEC_62196_T2",
            400,
            32,
            22,
            22.0,
            "max_electric_power 22 read as kW, not W",
        ),
        # Physically impossible AC value is clamped to the plug's limit, with a note
        (
            "AC_3_PHASE",
            "IEC_62196_T2",
            230,
            64,
            None,
            43.5,
            "IEC_62196_T2 at 44.2 kW exceeds the plug's 43.5 kW limit; clamped",
        ),
        ("DC", "CHADEMO", None, None, None, None, None),
    ],
)
def test_connector_max_power(
    power_type: str,
    standard: str,
    volts: int | None,
    amps: int | None,
    declared_w: int | None,
    expected_kw: float | None,
    note: str | None,
) -> None:
    kw, got_note = connector_max_power_kw(power_type, standard, volts, amps, declared_w)
    assert (kw, got_note) == (expected_kw, note)
