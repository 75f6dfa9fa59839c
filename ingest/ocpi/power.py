"""Maximum power of a connector (ocpi.md §3.10).

The spec gives no formula; this is the conventional derivation with the guards real feeds need:
``max_voltage`` is line-to-neutral for AC_3_PHASE, but many networks send 400 V line-to-line.
"""

from __future__ import annotations

import math

# Physical ceilings of AC plugs (kW): a computed value above them is a data error.
_AC_PLUG_LIMIT_KW = {
    "IEC_62196_T1": 19.2,
    "IEC_62196_T2": 43.5,
    "IEC_62196_T3A": 22.0,
    "IEC_62196_T3C": 43.5,
    "GBT_AC": 43.5,
    "DOMESTIC_F": 3.7,
    "DOMESTIC_E": 3.7,
    "DOMESTIC_G": 3.1,
}
_LINE_TO_LINE_MIN_V = 380
_SMALLEST_CHARGER_W = 1000


def computed_power_w(power_type: str, voltage: float, amperage: float) -> float:
    if power_type == "AC_3_PHASE":
        if voltage >= _LINE_TO_LINE_MIN_V:
            # Line-to-line voltage sent where line-to-neutral is specified: P = √3 · V_LL · I.
            return math.sqrt(3) * voltage * amperage
        return 3 * voltage * amperage
    if power_type == "AC_2_PHASE":
        return 2 * voltage * amperage
    if power_type == "AC_2_PHASE_SPLIT":
        return voltage * amperage if voltage >= 200 else 2 * voltage * amperage
    return voltage * amperage  # DC, AC_1_PHASE


def connector_max_power_kw(
    power_type: str,
    standard: str,
    max_voltage: float | None,
    max_amperage: float | None,
    max_electric_power_w: float | None,
) -> tuple[float | None, str | None]:
    """``(max_power_kw, note)``; ``None`` when nothing usable was sent.

    ``max_electric_power`` caps the value computed from voltage and amperage (2.2+); 2.1.1 has
    only voltage and amperage. AC values above the plug's physical limit are clamped, with a note.
    """
    computed: float | None = None
    if max_voltage and max_amperage and max_voltage > 0 and max_amperage > 0:
        computed = computed_power_w(power_type, max_voltage, max_amperage)
    declared = max_electric_power_w if max_electric_power_w and max_electric_power_w > 0 else None
    note = None
    if declared is not None and declared < _SMALLEST_CHARGER_W:
        # No charger delivers under 1 kW: the network sent kilowatts where OCPI asks for watts.
        note = f"max_electric_power {declared:g} read as kW, not W"
        declared = declared * 1000
    watts: float | None
    if computed is not None and declared is not None:
        watts = min(computed, declared)
    else:
        watts = computed if computed is not None else declared
    if watts is None:
        return None, None
    kw = watts / 1000.0
    limit = _AC_PLUG_LIMIT_KW.get(standard)
    if power_type.startswith("AC") and limit is not None and kw > limit:
        note = f"{standard} at {kw:.1f} kW exceeds the plug's {limit} kW limit; clamped"
        kw = limit
    return round(kw, 1), note
