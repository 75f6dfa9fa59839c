"""HubClientInfo (OCPI 2.2+, ocpi.md §2.6): the parties a hub routes for and whether each is
connected. A ClientInfo that cannot be read is a problem naming what is wrong, never dropped in
silence; the good ones around it are kept."""

from __future__ import annotations

from datetime import datetime

import msgspec

from app.domain.timestamps import parse_timestamp
from app.store.records import Problem

ROLES = frozenset({"CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP", "PTP"})
CONNECTION_STATUSES = frozenset({"CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED"})


class ClientInfo(msgspec.Struct, frozen=True):
    """One party a hub routes: (country code, party id), its role, its connection status."""

    country_code: str
    party_id: str
    role: str
    status: str
    last_updated: datetime

    @property
    def key(self) -> str:
        return f"{self.country_code}*{self.party_id}"


class _Wire(msgspec.Struct):
    country_code: object = None
    party_id: object = None
    role: object = None
    status: object = None
    last_updated: object = None


_decoder = msgspec.json.Decoder(_Wire)


def read_client_info(raw: bytes, problems: list[Problem]) -> ClientInfo | None:
    """A ClientInfo, or None with a problem saying which field is wrong."""
    try:
        wire = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        problems.append(Problem("hubclientinfo", None, f"not a ClientInfo object: {exc}", raw=raw))
        return None
    cc = wire.country_code.strip().upper() if isinstance(wire.country_code, str) else ""
    pid = wire.party_id.strip().upper() if isinstance(wire.party_id, str) else ""
    key = f"{cc}*{pid}" if cc or pid else None
    reason = None
    if len(cc) != 2 or not cc.isalpha():
        reason = f"country_code must be 2 letters, got {wire.country_code!r}"
    elif not 1 <= len(pid) <= 3 or not pid.isalnum():
        reason = f"party_id must be 1 to 3 letters or digits, got {wire.party_id!r}"
    role = wire.role.strip().upper() if isinstance(wire.role, str) else None
    status = wire.status.strip().upper() if isinstance(wire.status, str) else None
    moment = parse_timestamp(wire.last_updated)
    if reason is None and role not in ROLES:
        reason = f"role must be one of {', '.join(sorted(ROLES))}, got {wire.role!r}"
    if reason is None and status not in CONNECTION_STATUSES:
        reason = (
            f"status must be one of {', '.join(sorted(CONNECTION_STATUSES))}, got {wire.status!r}"
        )
    if reason is None and moment is None:
        reason = f"last_updated must be a timestamp, got {wire.last_updated!r}"
    if reason is not None or role is None or status is None or moment is None:
        problems.append(Problem("hubclientinfo", key, reason or "unreadable", raw=raw))
        return None
    return ClientInfo(cc, pid, role, status, moment)
