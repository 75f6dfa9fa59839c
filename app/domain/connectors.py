"""Connector standards: OCPI ConnectorType values, the spellings real feeds use, and the short
aliases of the public API (``ccs2``, ``type2``, ``nacs``, ...)."""

from __future__ import annotations

from typing import Final

# OCPI 2.2.1 ConnectorType plus the 2.3.0 additions (ocpi.md §3.8). The IEC 60309 values carry
# lower-case suffixes as part of the enum value.
CONNECTOR_TYPES: Final = (
    "CHADEMO",
    "CHAOJI",
    "DOMESTIC_A",
    "DOMESTIC_B",
    "DOMESTIC_C",
    "DOMESTIC_D",
    "DOMESTIC_E",
    "DOMESTIC_F",
    "DOMESTIC_G",
    "DOMESTIC_H",
    "DOMESTIC_I",
    "DOMESTIC_J",
    "DOMESTIC_K",
    "DOMESTIC_L",
    "DOMESTIC_M",
    "DOMESTIC_N",
    "DOMESTIC_O",
    "GBT_AC",
    "GBT_DC",
    "IEC_60309_2_single_16",
    "IEC_60309_2_three_16",
    "IEC_60309_2_three_32",
    "IEC_60309_2_three_64",
    "IEC_62196_T1",
    "IEC_62196_T1_COMBO",
    "IEC_62196_T2",
    "IEC_62196_T2_COMBO",
    "IEC_62196_T3A",
    "IEC_62196_T3C",
    "MCS",
    "NEMA_5_20",
    "NEMA_6_30",
    "NEMA_6_50",
    "NEMA_10_30",
    "NEMA_10_50",
    "NEMA_14_30",
    "NEMA_14_50",
    "PANTOGRAPH_BOTTOM_UP",
    "PANTOGRAPH_TOP_DOWN",
    "SAE_J3400",
    "TESLA_R",
    "TESLA_S",
)
UNKNOWN_STANDARD: Final = "UNKNOWN"

_BY_UPPER: Final = {t.upper(): t for t in CONNECTOR_TYPES}

# Names real feeds send instead of the enum value (normalised: upper-case, non-alphanumerics
# collapsed to "_"). Reading them costs a quarantine note, not the connector.
_SYNONYMS: Final = {
    "TYPE_2": "IEC_62196_T2",
    "TYPE2": "IEC_62196_T2",
    "TYPE_2_OUTLET": "IEC_62196_T2",
    "TYPE_2_SOCKET": "IEC_62196_T2",
    "TYPE_2_CABLE": "IEC_62196_T2",
    "MENNEKES": "IEC_62196_T2",
    "TYPE_1": "IEC_62196_T1",
    "TYPE1": "IEC_62196_T1",
    "J1772": "IEC_62196_T1",
    "SAE_J1772": "IEC_62196_T1",
    "CCS": "IEC_62196_T2_COMBO",
    "CCS2": "IEC_62196_T2_COMBO",
    "CCS_2": "IEC_62196_T2_COMBO",
    "COMBO_2": "IEC_62196_T2_COMBO",
    "CCS_TYPE_2": "IEC_62196_T2_COMBO",
    "CCS1": "IEC_62196_T1_COMBO",
    "CCS_1": "IEC_62196_T1_COMBO",
    "COMBO_1": "IEC_62196_T1_COMBO",
    "J1772_COMBO": "IEC_62196_T1_COMBO",
    "J1772COMBO": "IEC_62196_T1_COMBO",
    "GB_T_DC": "GBT_DC",
    "GB_T_DC_": "GBT_DC",
    "GBT": "GBT_DC",
    "GB_T": "GBT_DC",
    "GB_T_AC": "GBT_AC",
    "NACS": "SAE_J3400",
    "J3400": "SAE_J3400",
    "TESLA": "TESLA_S",
    "SCHUKO": "DOMESTIC_F",
    "CEE_7_4": "DOMESTIC_F",
    "CEE_7_5": "DOMESTIC_E",
    "CHA_DE_MO": "CHADEMO",
}

# Public API aliases (issue 4): each names the OCPI standards it stands for.
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "ccs1": ("IEC_62196_T1_COMBO",),
    "ccs2": ("IEC_62196_T2_COMBO",),
    "ccs": ("IEC_62196_T1_COMBO", "IEC_62196_T2_COMBO"),
    "type1": ("IEC_62196_T1",),
    "type2": ("IEC_62196_T2",),
    "chademo": ("CHADEMO",),
    # TESLA_S is the NACS-shaped plug in 2.2.x feeds; 2.3.0 names it SAE_J3400 (ocpi.md §3.8).
    "nacs": ("SAE_J3400", "TESLA_S"),
    "gbt": ("GBT_AC", "GBT_DC"),
    "mcs": ("MCS",),
}


def _key(value: str) -> str:
    out = []
    previous_sep = False
    for ch in value.strip().upper():
        if ch.isalnum():
            out.append(ch)
            previous_sep = False
        elif not previous_sep:
            out.append("_")
            previous_sep = True
    return "".join(out).strip("_")


def normalise_standard(value: str | None) -> tuple[str, str | None]:
    """``(standard, note)``: the canonical OCPI value; UNKNOWN (with a note) when unrecognised."""
    if value is None or not value.strip():
        return UNKNOWN_STANDARD, "connector standard missing; read as UNKNOWN"
    exact = _BY_UPPER.get(value.strip().upper())
    if exact is not None:
        return exact, None
    key = _key(value)
    if key in _BY_UPPER:
        return _BY_UPPER[key], None
    if key in _SYNONYMS:
        standard = _SYNONYMS[key]
        return (
            standard,
            f"connector standard {value!r} is not an OCPI ConnectorType; read as {standard}",
        )
    return (
        UNKNOWN_STANDARD,
        f"connector standard {value!r} is not an OCPI ConnectorType; kept as UNKNOWN",
    )


class UnknownConnector(ValueError):
    """A connector filter value that is neither an OCPI ConnectorType nor an alias."""


def resolve_connector_filter(values: list[str]) -> tuple[str, ...]:
    """Expand a list of aliases / OCPI values (any case) into OCPI standards."""
    standards: list[str] = []
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        alias = ALIASES.get(value.lower())
        if alias is not None:
            standards.extend(alias)
            continue
        exact = _BY_UPPER.get(value.upper())
        if exact is None:
            raise UnknownConnector(value)
        standards.append(exact)
    return tuple(dict.fromkeys(standards))


POWER_TYPES: Final = ("AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC")
FORMATS: Final = ("SOCKET", "CABLE")


def normalise_power_type(value: str | None) -> tuple[str, str | None]:
    if value is None or not value.strip():
        return "UNKNOWN", "connector power_type missing; read as UNKNOWN"
    cleaned = value.strip().upper().replace(" ", "_")
    if cleaned in POWER_TYPES:
        return cleaned, None
    return "UNKNOWN", f"connector power_type {value!r} is not an OCPI PowerType; kept as UNKNOWN"


def normalise_format(value: str | None) -> tuple[str, str | None]:
    if value is None or not value.strip():
        return "UNKNOWN", "connector format missing; read as UNKNOWN"
    cleaned = value.strip().upper()
    if cleaned in FORMATS:
        return cleaned, None
    return "UNKNOWN", f"connector format {value!r} is not an OCPI ConnectorFormat; kept as UNKNOWN"


def power_class(power_type: str) -> str:
    """AC or DC, for the ``power_type`` filter of the public API."""
    return "DC" if power_type == "DC" else ("AC" if power_type.startswith("AC") else "UNKNOWN")
