"""Stored OCPI objects as a downstream platform asks for them (issue 14, the hub's Sender).

We keep each object as its network sent it, in that network's version. A subscriber pulls in
its own version, so what differs between 2.1.1 and 2.2+ is rewritten here (ocpi.md §3.11):
the party's identity and ``publish`` (2.2+ only), ``type`` (2.1.1) and ``parking_type`` (2.2+),
a connector's ``tariff_id``, ``voltage`` and ``amperage`` (2.1.1) and ``tariff_ids``,
``max_voltage`` and ``max_amperage`` (2.2+), and ``time_zone`` (required from 2.2). Optional
fields sent as null are left out and strings longer than the spec allows are cut to it. 2.3.0
objects are 2.2.1 ones with optional additions, served as they are. Written by hand: no
maintained library converts OCPI objects between versions.
"""

from __future__ import annotations

from typing import Any

from ingest.ocpi.transport import is_22_or_later

# 2.1.1 LocationType → 2.2.1 ParkingType (OTHER and UNKNOWN have no 2.2.1 value: left out).
_PARKING_TYPE = {
    "ON_STREET": "ON_STREET",
    "PARKING_GARAGE": "PARKING_GARAGE",
    "UNDERGROUND_GARAGE": "UNDERGROUND_GARAGE",
    "PARKING_LOT": "PARKING_LOT",
}
# and back: ParkingType → LocationType (2.1.1 has no driveway or motorway: OTHER).
_LOCATION_TYPE = {**_PARKING_TYPE, "ON_DRIVEWAY": "OTHER", "ALONG_MOTORWAY": "OTHER"}


# Lengths the spec gives these strings (2.1.1 to 2.3.0 agree): a network that sent longer
# ones is passed on cut to them, as a strict reader would refuse the object (ocpi.md §6).
_MAX_CHARS = {"address": 45, "city": 45, "postal_code": 10, "state": 20}


def _plain(obj: dict[str, Any]) -> dict[str, Any]:
    """Without the optional fields a network sent as null (a strict reader refuses a null)."""
    return {k: v for k, v in obj.items() if v is not None}


def location(row: dict[str, Any], version: str) -> dict[str, Any]:
    """A stored location (``app.store.hub`` row: raw object, EVSE trees, identity) in
    ``version``."""
    out = _plain(row["raw"])
    for name, chars in _MAX_CHARS.items():
        if isinstance(out.get(name), str):
            out[name] = out[name][:chars]
    out["id"] = row["ocpi_id_raw"]
    out["evses"] = [_evse(e, version) for e in row["evses"]]
    mix = out.get("energy_mix")
    if isinstance(mix, dict) and "energy_sources" not in mix:
        # Optional (0..*), the same as none: said, as readers exist that require the list.
        out["energy_mix"] = {**mix, "energy_sources": []}
    if is_22_or_later(version):
        out["country_code"] = row["country_code"]
        out["party_id"] = row["party_id"]
        out["publish"] = True  # only visible locations are sent
        if not out.get("time_zone") and row["time_zone"]:
            out["time_zone"] = row["time_zone"]
        if "type" in out and "parking_type" not in out:
            kind = _PARKING_TYPE.get(str(out.pop("type")))
            if kind is not None:
                out["parking_type"] = kind
        out.pop("type", None)
    else:
        for name in ("country_code", "party_id", "publish", "publish_allowed_to"):
            out.pop(name, None)
        if "type" not in out:
            out["type"] = _LOCATION_TYPE.get(str(out.pop("parking_type", "")), "UNKNOWN")
        out.pop("parking_type", None)
    return out


def _evse(evse: dict[str, Any], version: str) -> dict[str, Any]:
    out = _plain(evse)
    out["connectors"] = [_connector(c, version) for c in evse.get("connectors") or ()]
    return out


# A connector's fields 2.1.1 names otherwise.
_CONNECTOR_211 = {"voltage": "max_voltage", "amperage": "max_amperage"}


def _connector(connector: dict[str, Any], version: str) -> dict[str, Any]:
    out = _plain(connector)
    if is_22_or_later(version):
        for old, new in _CONNECTOR_211.items():
            if old in out:
                value = out.pop(old)
                out.setdefault(new, value)
        single = out.pop("tariff_id", None)
        if "tariff_ids" not in out and single:
            out["tariff_ids"] = [single]
    else:
        for old, new in _CONNECTOR_211.items():
            if new in out:
                value = out.pop(new)
                out.setdefault(old, value)
        out.pop("max_electric_power", None)
        several = out.pop("tariff_ids", None)
        if "tariff_id" not in out and several:
            out["tariff_id"] = several[0]
    return out


def tariff(row: dict[str, Any], version: str) -> dict[str, Any]:
    out = dict(row["raw"])
    out["id"] = row["tariff_id_raw"]
    if is_22_or_later(version):
        out["country_code"] = row["country_code"]
        out["party_id"] = row["party_id"]
    else:
        out.pop("country_code", None)
        out.pop("party_id", None)
    return out
