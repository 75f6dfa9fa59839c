"""A real third-party OCPI CPO for interop tests, built on ``extrawest-ocpi`` (FastAPI/pydantic 1).

The PyPI package ``extrawest-ocpi`` installs the import package ``py_ocpi`` (the same import name
as TECHS' ``py-ocpi``, from which it was forked: never install both in one environment). It pins
``fastapi==0.101.1``, ``pydantic==1.10.12`` and ``httpx==0.24.1``, so it lives in its own venv:

    uv venv /tmp/xw --python 3.11
    uv pip install --python /tmp/xw extrawest-ocpi==2025.7.16 uvicorn

(or beside litestar/msgspec/httpx>=0.28 with ``--override`` ``httpx>=0.28``; see
``smoke_extrawest.py``). Start it from the repo root with that venv's Python:

    XWPEER_PORT=8765 XWPEER_FIXTURE=ocpi_2_2_1_locations-ezvolt.json \
        /tmp/xw/bin/python tests/peers/extrawest_cpo.py
    # or: /tmp/xw/bin/python -m uvicorn --factory tests.peers.extrawest_cpo:create_app --port 8765
    #     (XWPEER_PORT must then equal --port: the library writes it into every URL it advertises)

Environment (all optional):

    XWPEER_HOST / XWPEER_PORT   where it listens and what it advertises (127.0.0.1 / 8765)
    XWPEER_FIXTURE              file in fixtures/ocpi/ or a path (ocpi_2_2_1_locations-ezvolt.json)
    XWPEER_VERSION              2.2.1 or 2.1.1 (default: the fixture's, from fixtures' manifest)
    XWPEER_PARTY                CC*PID of the CPO (default: manifest 'party', else the data's)
    XWPEER_TOKEN                static credentials token valid on every module ("xwpeer-static")
    XWPEER_TOKEN_A              one-time token A a platform may use to register with us
    XWPEER_PLATFORM_VERSIONS_URL, XWPEER_PLATFORM_TOKEN_A
                                a platform to register with (we send the credentials POST);
    XWPEER_AUTO_REGISTER=1      ... do it right after start-up (else: POST /_peer/register)
    XWPEER_MAX_LIMIT            server page-size cap (default none, as the library: X-Limit=limit)
    XWPEER_FIX_LINK=0           serve the library's Link header unrepaired (it is broken, see below)
    XWPEER_ROUTING_HEADERS=0    no OCPI-from/to-* headers on our PATCH pushes (2.2.1)
    XWPEER_OUTBOUND_AUTH        library (default: base64 for 2.2.1, raw for 2.1.1) | base64 | raw
    XWPEER_DEFAULT_TIME_ZONE    fill a missing Location.time_zone (the library requires one)
    XWPEER_UPPERCASE_IDS=1      the library rewrites every CiString to lower case; this: upper case
    XWPEER_CREDENTIALS_ROLE     role advertised for credentials in 2.2.1 details (library: RECEIVER;
                                SENDER is what the errata advise and what Wattlas looks for)
    XWPEER_LOG_LEVEL            level of the library's own logger (WARNING)

OCPI endpoints are the library's own: ``/ocpi/versions``, ``/ocpi/{v}/details``,
``/ocpi/cpo/{v}/credentials/``, ``/ocpi/cpo/{v}/locations/[{id}[/{evse}[/{connector}]]]``.
Test-only admin endpoints, no auth (loopback only): ``GET /_peer/state``, ``GET /_peer/locations``
(what the library serves, after its own serialisation), ``POST /_peer/register`` {versions_url,
token_a}, ``POST /_peer/patch-evse`` {location_id, evse_uid, status}, ``POST /_peer/put-location``
{location_id, library_url_bug}, ``POST /_peer/pull-platform`` {module, limit} (pull from the
platform's SENDER endpoint as its downstream eMSP, each object read with the library's schema),
``POST /_peer/reset`` (forget the platform, reopen token A).

What the library does itself and what this module adds (details in the report of the session that
wrote it, and in the comments below):

* served by the library: versions, version details, credentials GET/POST/PUT/DELETE (it fetches the
  platform's versions + details with the platform's token during POST/PUT), Locations Sender GET
  with offset/limit paging. We supply data through its ``Crud`` (``PeerCrud``), tokens through its
  ``Authenticator`` (``make_authenticator``), objects through its ``BaseAdapter`` (pydantic models).
* added here, with httpx + the library's schemas/serialisation: registering *with* a platform
  (the library has no client for the initiator side) and PATCHing an EVSE status (the library's
  only push is a whole-object PUT via ``py_ocpi.core.push.push_object``, which we also expose;
  its URL join is buggy, see ``_fixed_client_url``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import secrets
import sys
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

log = logging.getLogger("xwpeer")

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "ocpi"
DEFAULT_FIXTURE = "ocpi_2_2_1_locations-ezvolt.json"
SUPPORTED = ("2.2.1", "2.1.1")


# ---- configuration -----------------------------------------------------------------------------
def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _manifest_entry(fixture: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((FIXTURES / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    for entry in manifest.get("networks", []):
        if entry.get("file") == fixture.name:
            return dict(entry)
    return {}


def load_fixture(path: Path) -> list[dict[str, Any]]:
    """The Location list of a dump: an OCPI envelope or a bare list; some dumps carry a BOM."""
    raw = json.loads(path.read_text(encoding="utf-8-sig"))
    data = raw.get("data") if isinstance(raw, dict) else raw
    if not isinstance(data, list):
        raise ValueError(f"{path}: no list of locations")
    return data


@dataclass
class PeerConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    fixture: Path = FIXTURES / DEFAULT_FIXTURE
    version: str = "2.2.1"
    country_code: str = "ZZ"
    party_id: str = "XWP"
    business_name: str = "Extrawest test CPO"
    token: str = "xwpeer-static"
    token_a: str = "xwpeer-token-a"
    platform_versions_url: str | None = None
    platform_token_a: str | None = None
    auto_register: bool = False
    max_limit: int | None = None
    fix_link: bool = True
    routing_headers: bool = True
    outbound_auth: str = "library"
    default_time_zone: str | None = None
    uppercase_ids: bool = False
    credentials_role: str | None = None  # None: the library's (RECEIVER)
    log_level: str = "WARNING"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/ocpi/versions"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> PeerConfig:
        env = dict(os.environ if env is None else env)
        name = env.get("XWPEER_FIXTURE") or DEFAULT_FIXTURE
        fixture = Path(name) if Path(name).exists() else FIXTURES / name
        entry = _manifest_entry(fixture)
        version = env.get("XWPEER_VERSION") or (
            "2.1.1" if entry.get("version") == "2.1.1" else "2.2.1"
        )
        if version not in SUPPORTED:
            raise ValueError(f"XWPEER_VERSION must be one of {SUPPORTED}, not {version!r}")
        party = env.get("XWPEER_PARTY") or entry.get("party") or _party_of(fixture)
        cc, _, pid = party.partition("*")
        max_limit = env.get("XWPEER_MAX_LIMIT")
        return cls(
            host=env.get("XWPEER_HOST") or "127.0.0.1",
            port=int(env.get("XWPEER_PORT") or 8765),
            fixture=fixture,
            version=version,
            country_code=cc.upper(),
            party_id=pid.upper(),
            business_name=env.get("XWPEER_BUSINESS_NAME")
            or f"Extrawest test CPO ({entry.get('name') or fixture.stem})",
            token=env.get("XWPEER_TOKEN") or cls.token,
            token_a=env.get("XWPEER_TOKEN_A") or cls.token_a,
            platform_versions_url=env.get("XWPEER_PLATFORM_VERSIONS_URL") or None,
            platform_token_a=env.get("XWPEER_PLATFORM_TOKEN_A") or None,
            auto_register=_flag(env, "XWPEER_AUTO_REGISTER", False),
            max_limit=int(max_limit) if max_limit else None,
            fix_link=_flag(env, "XWPEER_FIX_LINK", True),
            routing_headers=_flag(env, "XWPEER_ROUTING_HEADERS", True),
            outbound_auth=env.get("XWPEER_OUTBOUND_AUTH") or "library",
            default_time_zone=env.get("XWPEER_DEFAULT_TIME_ZONE") or None,
            uppercase_ids=_flag(env, "XWPEER_UPPERCASE_IDS", False),
            credentials_role=(env.get("XWPEER_CREDENTIALS_ROLE") or "").upper() or None,
            log_level=env.get("XWPEER_LOG_LEVEL") or "WARNING",
        )


def _party_of(fixture: Path) -> str:
    try:
        for loc in load_fixture(fixture):
            if isinstance(loc, dict) and loc.get("country_code") and loc.get("party_id"):
                return f"{loc['country_code']}*{loc['party_id']}"
    except (OSError, ValueError):
        pass
    return "ZZ*XWP"


def configure_library(cfg: PeerConfig) -> None:
    """py_ocpi reads its pydantic BaseSettings from os.environ (and ./.env) when first imported,
    and builds its version-details URLs at import time. Its generic names (ENVIRONMENT, PROTOCOL,
    NO_AUTH, OCPI_HOST...) would pick up unrelated variables (ENVIRONMENT other than production/
    development/testing makes the import raise), so we force every one of them, then also set
    them on the settings object in case the package was imported earlier in this process."""
    values: dict[str, Any] = {
        "ENVIRONMENT": "production",
        "NO_AUTH": False,
        "PROJECT_NAME": cfg.business_name,
        "OCPI_HOST": f"{cfg.host}:{cfg.port}",
        "OCPI_PREFIX": "ocpi",
        "PUSH_PREFIX": "push",
        "COUNTRY_CODE": cfg.country_code,
        "PARTY_ID": cfg.party_id,
        "PROTOCOL": "http",
        "TRAILING_SLASH": True,
        "CI_STRING_LOWERCASE_PREFERENCE": not cfg.uppercase_ids,
    }
    for key, value in values.items():
        os.environ[key] = str(value).lower() if isinstance(value, bool) else str(value)
    os.environ.pop("BACKEND_CORS_ORIGINS", None)
    from py_ocpi.core.config import logger, settings

    for key, value in values.items():
        setattr(settings, key, value)
    logger.setLevel(cfg.log_level.upper())


def _library_endpoints(version: str, credentials_role: str | None = None) -> list[dict[str, Any]]:
    """The library's CPO endpoint list for our two modules, rebuilt now (its own copy was built
    at import time from whatever settings were then in force). Roles are the library's:
    locations SENDER, credentials RECEIVER (2.2.1; the errata advise SENDER), unless
    credentials_role says otherwise."""
    from py_ocpi.core.endpoints import ENDPOINTS
    from py_ocpi.core.enums import ModuleID, RoleEnum
    from py_ocpi.modules.versions.enums import VersionNumber

    number = VersionNumber(version)
    if version == "2.2.1":
        from py_ocpi.core.endpoints.v_2_2_1.utils import CPOEndpointGenerator221
        from py_ocpi.modules.versions.v_2_2_1.enums import InterfaceRole

        gen221 = CPOEndpointGenerator221()
        out = []
        for module in (ModuleID.credentials_and_registration, ModuleID.locations):
            role = ENDPOINTS[number][RoleEnum.cpo][module].role
            if module == ModuleID.credentials_and_registration and credentials_role:
                role = InterfaceRole(credentials_role)
            out.append(gen221.generate_endpoint(module, role))
    else:
        from py_ocpi.core.endpoints.v_2_1_1.utils import CPOEndpointGenerator211

        gen211 = CPOEndpointGenerator211()
        out = [
            gen211.generate_endpoint(m)
            for m in (ModuleID.credentials_and_registration, ModuleID.locations)
        ]
    return [json.loads(e.json()) for e in out]


# ---- cleaning the fixture copy so the library's schemas accept it -----------------------------
class Unfixable(Exception):
    pass


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        err = errors()[0]
        where = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        return f"{where}: {err['msg']}"
    return str(exc)


@dataclass
class CleaningReport:
    fixture: str
    version: str
    total: int = 0
    valid_as_is: int = 0
    kept: int = 0
    changed: int = 0
    rejected: int = 0
    as_is_errors: Counter[str] = field(default_factory=Counter)
    fixes: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    ignored_fields: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("as_is_errors", "fixes", "rejections", "ignored_fields"):
            out[key] = dict(getattr(self, key).most_common())
        return out


class Cleaner:
    """Schema-driven repair of one Location against the library's pydantic (v1) models.

    Generic rules: null in a field the library does not allow null -> omitted (its default);
    numbers in string fields -> strings; coordinates with more than 6 decimals -> 6 decimals;
    over-long free text -> truncated (the library has pre-errata limits: address 45, state 20...);
    enum values -> stripped/upper-cased if that makes them known; unknown enum values in lists ->
    dropped; an invalid element of a list -> dropped; an invalid optional sub-object -> dropped.
    Targeted fills: missing country_code/party_id from the configured party, missing publish ->
    true, missing EVSE/connector last_updated -> the parent's, 2.1.1 <-> 2.2.1 connector renames,
    EnergyMix.energy_sources missing -> [] (the spec allows none), Hours.twentyfourseven missing
    with regular_hours -> false. Identifiers are never truncated or rewritten: an object whose id
    the library refuses is dropped. Anything else required and invalid rejects the object."""

    def __init__(self, cfg: PeerConfig, report: CleaningReport) -> None:
        from py_ocpi.core import data_types

        self.cfg = cfg
        self.report = report
        self.t = data_types
        if cfg.version == "2.2.1":
            from py_ocpi.modules.locations.v_2_2_1 import schemas
        else:
            from py_ocpi.modules.locations.v_2_1_1 import schemas
        self.Location = schemas.Location
        self._trail: list[str] = []  # notes, so that those inside a dropped object can be undone

    @property
    def _noted(self) -> int:
        return len(self._trail)

    def note(self, path: str, what: str) -> None:
        self.report.fixes[f"{path}: {what}"] += 1
        self._trail.append(f"{path}: {what}")

    def undo_to(self, mark: int) -> None:
        for what in self._trail[mark:]:
            self.report.fixes[what] -= 1
            if self.report.fixes[what] <= 0:
                del self.report.fixes[what]
        del self._trail[mark:]

    def location(self, raw: Any) -> dict[str, Any] | None:
        from pydantic import ValidationError

        self.report.total += 1
        try:
            self.Location(**raw)
            self.report.valid_as_is += 1
        except (ValidationError, TypeError) as exc:
            self.report.as_is_errors[_first_error(exc)] += 1
        before = self._noted
        try:
            cleaned = self.obj(self.Location, raw, "location", None)
            self.Location(**cleaned)
        except Unfixable as exc:
            self.undo_to(before)
            self.report.rejected += 1
            self.report.rejections[str(exc)] += 1
            return None
        except ValidationError as exc:  # a case the rules above do not cover
            self.undo_to(before)
            self.report.rejected += 1
            self.report.rejections[f"still invalid: {_first_error(exc)}"] += 1
            return None
        self.report.kept += 1
        if self._noted > before:
            self.report.changed += 1
        return cleaned

    # - objects -
    def obj(self, model: Any, raw: Any, path: str, parent_updated: str | None) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise Unfixable(f"{path}: not a JSON object")
        raw = dict(raw)
        self.targeted(model.__name__, raw, path, parent_updated)
        updated = raw.get("last_updated") if isinstance(raw.get("last_updated"), str) else None
        out: dict[str, Any] = {}
        for name, fld in model.__fields__.items():
            p = f"{path}.{name}"
            value = raw.get(name)
            if value is None:
                if fld.required:
                    raise Unfixable(f"{p}: missing or null, required by the library")
                if name in raw and not fld.allow_none:
                    self.note(p, "null -> omitted (library default)")
                continue
            mark = self._noted
            try:
                out[name] = self.value(fld, value, p, updated or parent_updated)
            except Unfixable as exc:
                if fld.required:
                    raise
                self.undo_to(mark)
                self.note(p, f"dropped ({exc})")
        for extra in set(raw) - set(model.__fields__):
            self.report.ignored_fields[f"{path}.{extra}"] += 1
        return out

    def targeted(self, name: str, raw: dict[str, Any], path: str, parent: str | None) -> None:
        v221 = self.cfg.version == "2.2.1"
        if name == "Location":
            if v221:
                for key, value in (
                    ("country_code", self.cfg.country_code),
                    ("party_id", self.cfg.party_id),
                ):
                    if not raw.get(key):
                        raw[key] = value
                        self.note(f"{path}.{key}", "missing -> configured party")
                if raw.get("publish") is None:
                    raw["publish"] = True
                    self.note(f"{path}.publish", "missing -> true (assumed)")
            if not raw.get("time_zone") and self.cfg.default_time_zone:
                raw["time_zone"] = self.cfg.default_time_zone
                self.note(f"{path}.time_zone", "missing -> XWPEER_DEFAULT_TIME_ZONE")
        elif name in ("EVSE", "Connector"):
            if not raw.get("last_updated") and parent:
                raw["last_updated"] = parent
                self.note(f"{path}.last_updated", "missing -> parent's last_updated")
            if name == "Connector":
                renames = (
                    (("voltage", "max_voltage"), ("amperage", "max_amperage"))
                    if v221
                    else (("max_voltage", "voltage"), ("max_amperage", "amperage"))
                )
                for old, new in renames:
                    if raw.get(new) is None and raw.get(old) is not None:
                        raw[new] = raw.pop(old)
                        self.note(f"{path}.{new}", f"taken from {old!r}")
                if not v221 and raw.get("tariff_id") is None:
                    ids = raw.get("tariff_ids")
                    if isinstance(ids, list) and len(ids) == 1:
                        raw["tariff_id"] = ids[0]
                        self.note(f"{path}.tariff_id", "taken from tariff_ids")
        elif name == "EnergyMix":
            if raw.get("energy_sources") is None:
                raw["energy_sources"] = []
                self.note(f"{path}.energy_sources", "missing -> [] (library requires it)")
        elif name == "Hours" and raw.get("twentyfourseven") is None and raw.get("regular_hours"):
            raw["twentyfourseven"] = False
            self.note(f"{path}.twentyfourseven", "missing with regular_hours -> false")

    def value(self, fld: Any, value: Any, path: str, updated: str | None) -> Any:
        from pydantic.fields import SHAPE_LIST

        if fld.shape == SHAPE_LIST:
            if not isinstance(value, list):
                raise Unfixable(f"{path}: not a list")
            items = []
            last: Unfixable | None = None
            for item in value:
                mark = self._noted
                try:
                    items.append(self.scalar(fld.type_, item, path, updated))
                except Unfixable as exc:
                    self.undo_to(mark)
                    self.note(path, f"element dropped ({exc})")
                    last = exc
            if value and not items and path.endswith("evses.connectors"):
                raise Unfixable(f"no connector left; last: {last}")
            return items
        return self.scalar(fld.type_, value, path, updated)

    def scalar(self, tp: Any, value: Any, path: str, updated: str | None) -> Any:
        from pydantic import BaseModel, ValidationError

        t = self.t
        if not isinstance(tp, type):
            return value
        if issubclass(tp, BaseModel):
            out = self.obj(tp, value, path, updated)
            try:
                tp(**out)
            except ValidationError as exc:
                raise Unfixable(f"{path}: {_first_error(exc)}") from None
            return out
        if issubclass(tp, Enum):
            allowed = {m.value for m in tp}
            if value in allowed:
                return value
            if isinstance(value, str):
                norm = value.strip().upper().replace(" ", "_").replace("-", "_")
                if norm in allowed:
                    self.note(path, "enum value normalised (case/whitespace)")
                    return norm
            raise Unfixable(f"{path}: {value!r} is not a {tp.__name__} the library knows")
        if issubclass(tp, t.DateTime):
            if not isinstance(value, str):
                raise Unfixable(f"{path}: DateTime not a string")
            try:
                t.DateTime.validate(value)
            except (ValueError, TypeError):
                raise Unfixable(f"{path}: DateTime {value!r} refused") from None
            return value
        if issubclass(tp, t.URL):
            if not isinstance(value, str) or len(value) > 255:
                raise Unfixable(f"{path}: URL not a string of at most 255")
            return value
        if issubclass(tp, t.CiStringBase):
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
                self.note(path, "number -> string")
            if not isinstance(value, str) or not value.isascii():
                raise Unfixable(f"{path}: CiString must be ASCII text")
            if len(value) > tp.max_length:
                sub = value.rsplit("/", 1)[-1]
                if "/" in value and 0 < len(sub) <= tp.max_length:  # Image.type 'image/png'
                    self.note(path, "MIME type -> subtype")
                    return sub
                raise Unfixable(f"{path}: identifier longer than {tp.max_length}")
            return value
        if issubclass(tp, t.StringBase):
            if path.endswith(("latitude", "longitude")):
                return self.coordinate(value, path, tp.max_length)
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
                self.note(path, "number -> string")
            if not isinstance(value, str):
                raise Unfixable(f"{path}: not a string")
            if len(value) > tp.max_length and path.endswith(".country"):
                raise Unfixable(f"{path}: {value!r} is not an ISO 3166 alpha-3 code")
            if len(value) > tp.max_length:
                self.note(path, f"longer than {tp.max_length} -> truncated")
                value = value[: tp.max_length]
            return value
        if issubclass(tp, t.DisplayText):
            if not isinstance(value, dict) or "language" not in value or "text" not in value:
                raise Unfixable(f"{path}: DisplayText without language/text")
            text = str(value["text"])
            if len(text) > 512:
                self.note(path, "text longer than 512 -> truncated")
                text = text[:512]
            return {"language": value["language"], "text": text}
        if issubclass(tp, t.Number):
            try:
                float(value)
            except (TypeError, ValueError):
                raise Unfixable(f"{path}: not a number") from None
            return value
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                self.note(path, "string -> boolean")
                return value.lower() == "true"
            raise Unfixable(f"{path}: not a boolean")
        if tp is int:
            if isinstance(value, bool):
                raise Unfixable(f"{path}: not an integer")
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
                self.note(path, "string -> integer")
                return int(value)
            raise Unfixable(f"{path}: not an integer")
        return value

    def coordinate(self, value: Any, path: str, max_length: int) -> str:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise Unfixable(f"{path}: not a coordinate") from None
        if isinstance(value, str) and len(value) <= max_length:
            return value
        text = f"{number:.6f}"
        self.note(path, "number -> string" if not isinstance(value, str) else "rounded to 6 dp")
        if len(text) > max_length:
            raise Unfixable(f"{path}: coordinate out of range")
        return text


def clean_locations(cfg: PeerConfig) -> tuple[list[dict[str, Any]], CleaningReport]:
    """Cleaned deep copies of the fixture's locations (the file is only read)."""
    raw = load_fixture(cfg.fixture)
    report = CleaningReport(fixture=cfg.fixture.name, version=cfg.version)
    cleaner = Cleaner(cfg, report)
    kept = []
    seen: set[str] = set()
    for loc in json.loads(json.dumps(raw)):  # a deep copy
        cleaned = cleaner.location(loc)
        if cleaned is None:
            continue
        key = str(cleaned["id"]).lower()
        if key in seen:
            report.kept -= 1
            report.rejected += 1
            report.rejections["duplicate location id (case-insensitive)"] += 1
            continue
        seen.add(key)
        kept.append(cleaned)
    log.info(
        "xwpeer.cleaned fixture=%s version=%s total=%d valid_as_is=%d kept=%d changed=%d "
        "rejected=%d",
        report.fixture,
        report.version,
        report.total,
        report.valid_as_is,
        report.kept,
        report.changed,
        report.rejected,
    )
    for what, count in report.fixes.most_common():
        log.info("xwpeer.cleaned.fix %5d  %s", count, what)
    for what, count in report.rejections.most_common():
        log.info("xwpeer.cleaned.rejected %5d  %s", count, what)
    return kept, report


# ---- state, the library's Crud and Authenticator ---------------------------------------------
def library_accepts_raw(token: str) -> bool:
    """Whether the library's /versions check (VersionsAuthorizationVerifier, any OCPI version)
    can match this token sent raw: it always tries Base64 first and falls back to the raw value
    only on UnicodeDecodeError. A binascii.Error (e.g. 'Incorrect padding', typical for tokens
    with '-' or '_') escapes as HTTP 200 + OCPI 3000; a token that decodes to valid UTF-8 is
    compared decoded, so -> 401. Matters for 2.1.1, where tokens travel raw."""
    import binascii

    try:
        base64.b64decode(token.encode()).decode()
    except UnicodeDecodeError:
        return True
    except (binascii.Error, ValueError):
        return False
    return False


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def new_token() -> str:
    """32 alphanumerics (24 random bytes once Base64-decoded, practically never UTF-8), checked
    to pass the library's raw-token fallback (library_accepts_raw)."""
    while True:
        token = "".join(secrets.choice(_ALNUM) for _ in range(32))
        if library_accepts_raw(token):
            return token


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_dt(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass
class Platform:
    """The one platform we are registered with."""

    initiator: str  # "platform": it POSTed its credentials to us; "peer": we POSTed to it
    version: str
    versions_url: str
    token: str  # what we send to it (its token B, or the token C it returned to us)
    our_token: str  # what it sends to us (token C we issued, or our token B)
    endpoints: list[dict[str, Any]]
    credentials: dict[str, Any]  # its credentials object, as the library parsed it
    details_url: str | None = None


class PeerState:
    def __init__(self, cfg: PeerConfig, locations: list[dict[str, Any]], report: CleaningReport):
        self.cfg = cfg
        self.locations = locations
        self.by_id = {str(loc["id"]).lower(): loc for loc in locations}
        self.report = report
        self.token_a_open = True
        self.issued: dict[str, str] = {}  # tokens we made for a platform -> what they are
        self.platform: Platform | None = None
        self.events: list[dict[str, Any]] = []
        self.background: asyncio.Task[None] | None = None

    def event(self, kind: str, **data: Any) -> None:
        self.events.append({"at": _now(), "event": kind, **data})
        log.info("xwpeer.%s %s", kind, data)

    def module_tokens(self) -> list[str]:
        return [self.cfg.token, *self.issued]

    def our_credentials(self, token: str) -> dict[str, Any]:
        business = {"name": self.cfg.business_name}
        if self.cfg.version == "2.1.1":
            return {
                "token": token,
                "url": self.cfg.versions_url,
                "business_details": business,
                "party_id": self.cfg.party_id,
                "country_code": self.cfg.country_code,
            }
        return {
            "token": token,
            "url": self.cfg.versions_url,
            "roles": [
                {
                    "role": "CPO",
                    "business_details": business,
                    "party_id": self.cfg.party_id,
                    "country_code": self.cfg.country_code,
                }
            ],
        }

    def forget_platform(self) -> None:
        if self.platform is not None:
            self.issued.pop(self.platform.our_token, None)
        self.platform = None

    # called by the library's credentials module (through PeerCrud)
    def accept_registration(self, data: dict[str, Any], auth_token: str | None) -> dict[str, Any]:
        creds = data["credentials"]
        details = data.get("endpoints") or {}
        endpoints = details.get("endpoints", []) if isinstance(details, dict) else details
        self.forget_platform()
        token_c = new_token()
        self.issued[token_c] = "C, issued to the platform that registered with us"
        self.token_a_open = False  # token A is spent (ocpi.md §2.5 step 5)
        self.platform = Platform(
            initiator="platform",
            version=self.cfg.version,
            versions_url=str(creds["url"]),
            token=str(creds["token"]),
            our_token=token_c,
            endpoints=list(endpoints),
            credentials=json.loads(json.dumps(creds, default=str)),
        )
        self.event("registered_by_platform", versions_url=creds["url"], endpoints=endpoints)
        return self.our_credentials(token_c)

    def accept_update(self, data: dict[str, Any], auth_token: str | None) -> dict[str, Any]:
        creds = data["credentials"]
        details = data.get("endpoints") or {}
        endpoints = details.get("endpoints", []) if isinstance(details, dict) else details
        if auth_token:
            self.issued.pop(auth_token, None)
        token_c = new_token()
        self.issued[token_c] = "C, issued to the platform at its credentials PUT"
        self.platform = Platform(
            initiator=self.platform.initiator if self.platform else "platform",
            version=self.cfg.version,
            versions_url=str(creds["url"]),
            token=str(creds["token"]),
            our_token=token_c,
            endpoints=list(endpoints),
            credentials=json.loads(json.dumps(creds, default=str)),
        )
        self.event("credentials_updated_by_platform", versions_url=creds["url"])
        return self.our_credentials(token_c)

    def unregister(self, token: str) -> None:
        if self.platform is not None and self.platform.our_token == token:
            self.platform = None
        self.issued.pop(token, None)
        self.event("unregistered_by_platform")

    def page(self, filters: dict[str, Any]) -> tuple[list[dict[str, Any]], int, bool]:
        date_from = _parse_dt(filters.get("date_from"))
        date_to = _parse_dt(filters.get("date_to"))
        items = []
        for loc in self.locations:  # fixture order: stable across calls (ocpi.md §1.7)
            updated = _parse_dt(loc.get("last_updated"))
            if date_from and (updated is None or updated < date_from):
                continue
            if date_to and (updated is None or updated >= date_to):
                continue
            items.append(loc)
        offset = max(int(filters.get("offset") or 0), 0)
        limit = int(filters.get("limit") or 0)
        if limit <= 0:
            return [], len(items), True
        return items[offset : offset + limit], len(items), offset + limit >= len(items)


def make_crud(state: PeerState) -> Any:
    from py_ocpi.core.crud import Crud
    from py_ocpi.core.enums import ModuleID

    class PeerCrud(Crud):
        """What the library calls for data (py_ocpi.core.crud.Crud)."""

        async def get(self, module: Any, role: Any, id: Any, *args: Any, **kwargs: Any) -> Any:
            if module == ModuleID.locations:
                return state.by_id.get(str(id).lower())
            if module == ModuleID.credentials_and_registration:
                # GET /credentials: echo the token the caller used (ocpi.md P4)
                return state.our_credentials(str(id)) if id else None
            return None

        async def list(
            self, module: Any, role: Any, filters: dict[str, Any], *args: Any, **kwargs: Any
        ) -> tuple[list[Any], int, bool]:
            if module == ModuleID.locations:
                return state.page(filters)
            return [], 0, True

        async def create(
            self, module: Any, role: Any, data: dict[str, Any], *a: Any, **k: Any
        ) -> Any:
            if module == ModuleID.credentials_and_registration:
                return state.accept_registration(data, k.get("auth_token"))
            return None

        async def update(
            self, module: Any, role: Any, data: dict[str, Any], id: Any, *a: Any, **k: Any
        ) -> Any:
            if module == ModuleID.credentials_and_registration:
                return state.accept_update(data, k.get("auth_token"))
            return None

        async def delete(self, module: Any, role: Any, id: Any, *a: Any, **k: Any) -> None:
            if module == ModuleID.credentials_and_registration:
                state.unregister(str(id))

        async def do(self, module: Any, role: Any, action: Any, *a: Any, **k: Any) -> Any:
            return None

    return PeerCrud()


def make_authenticator(state: PeerState) -> type:
    """The library calls these classmethods. Its 'token A' list opens versions/details/credentials
    POST; its 'token C' list opens everything: our static token, the token C we issued, and the
    token B we sent when we registered with the platform (the platform calls us with it)."""
    from py_ocpi.core.authentication.authenticator import Authenticator

    class PeerAuthenticator(Authenticator):
        @classmethod
        async def get_valid_token_c(cls) -> list[str]:
            return state.module_tokens()

        @classmethod
        async def get_valid_token_a(cls) -> list[str]:
            return [state.cfg.token_a] if state.token_a_open else []

    return PeerAuthenticator


# ---- outbound: registering with a platform, pushing -------------------------------------------
class PeerError(Exception):
    pass


def auth_header(cfg: PeerConfig, token: str, version: str) -> str:
    """As the library does it: Base64 for 2.2.x, raw for 2.1.1 (XWPEER_OUTBOUND_AUTH overrides)."""
    from py_ocpi.core.utils import encode_string_base64

    mode = cfg.outbound_auth
    if mode == "library":
        mode = "base64" if version.startswith("2.2") else "raw"
    return f"Token {encode_string_base64(token) if mode == 'base64' else token}"


def _envelope(response: Any, what: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        raise PeerError(f"{what}: HTTP {response.status_code}, not JSON") from None
    if response.status_code != 200 or body.get("status_code") != 1000:
        raise PeerError(f"{what}: HTTP {response.status_code}, body {body}")
    return body.get("data")


def _endpoint(endpoints: list[dict[str, Any]], module: str, role: str | None) -> str | None:
    for endpoint in endpoints:
        if endpoint.get("identifier") == module and (
            role is None or endpoint.get("role") in (role, None)
        ):
            return str(endpoint["url"])
    return None


def _join(base: str, *segments: str) -> str:
    return "/".join([base.rstrip("/"), *(s.strip("/") for s in segments)])


def _ci(cfg: PeerConfig, value: str) -> str:
    """An id as the library emits it: 2.2.1 CiStrings are lower-cased (upper with
    XWPEER_UPPERCASE_IDS); 2.1.1 ids are plain strings, left alone."""
    if cfg.version != "2.2.1":
        return value
    return value.upper() if cfg.uppercase_ids else value.lower()


async def register_with_platform(
    state: PeerState, versions_url: str | None = None, token_a: str | None = None
) -> dict[str, Any]:
    """We are the credentials Sender (initiator): GET its versions + details with token A, POST
    our credentials (with a fresh token B) to its credentials endpoint, keep its token C.
    The library has no client for this side, so: httpx + the library's Credentials schema."""
    import httpx

    cfg = state.cfg
    versions_url = versions_url or cfg.platform_versions_url
    token_a = token_a or cfg.platform_token_a
    if not versions_url or not token_a:
        raise PeerError("no platform versions URL / token A (XWPEER_PLATFORM_*)")
    version = cfg.version
    headers = {"Authorization": auth_header(cfg, token_a, version)}
    async with httpx.AsyncClient(timeout=15) as http:
        offered = _envelope(await http.get(versions_url, headers=headers), "GET versions")
        urls = {str(v.get("version")): v.get("url") for v in offered or []}
        details_url = urls.get(version)
        if not details_url:
            raise PeerError(f"platform does not offer {version}: {sorted(urls)}")
        details = _envelope(await http.get(details_url, headers=headers), "GET version details")
        endpoints = list(details.get("endpoints") or [])
        credentials_url = _endpoint(endpoints, "credentials", None)
        if not credentials_url:
            raise PeerError("platform lists no credentials endpoint")
        token_b = new_token()
        state.forget_platform()
        state.issued[token_b] = "B, sent to the platform in our credentials POST"
        body = _our_credentials_body(state, token_b)
        response = await http.post(
            credentials_url,
            headers={**headers, "Content-Type": "application/json"},
            content=json.dumps(body),
        )
        try:
            theirs = _envelope(response, "POST credentials")
        except PeerError:
            state.issued.pop(token_b, None)
            raise
    parsed = _parse_their_credentials(theirs, version)
    state.platform = Platform(
        initiator="peer",
        version=version,
        versions_url=versions_url,
        token=str(theirs["token"]),
        our_token=token_b,
        endpoints=endpoints,
        credentials=parsed,
        details_url=details_url,
    )
    state.event(
        "registered_with_platform",
        versions_url=versions_url,
        credentials_url=credentials_url,
        sent=body,
    )
    return {"sent": body, "received": theirs, "endpoints": endpoints}


async def pull_from_platform(state: PeerState, module: str, limit: int) -> dict[str, Any]:
    """We as the platform's downstream eMSP (issue 14): pull a module from the SENDER endpoint
    its version details gave us, page by page along its ``Link`` headers, and read every
    object with the library's own schema of our version (pydantic: what the library would
    accept from a CPO). The library has no pulling client, so: httpx + its schemas."""
    import httpx
    from pydantic import ValidationError

    platform = state.platform
    if platform is None:
        raise PeerError("not registered with a platform")
    url = _endpoint(platform.endpoints, module, "SENDER" if state.cfg.version == "2.2.1" else None)
    if not url:
        raise PeerError(f"the platform lists no {module} SENDER endpoint: {platform.endpoints}")
    if state.cfg.version == "2.2.1":
        from py_ocpi.modules.locations.v_2_2_1.schemas import Location
        from py_ocpi.modules.tariffs.v_2_2_1.schemas import Tariff
    else:
        from py_ocpi.modules.locations.v_2_1_1.schemas import Location
        from py_ocpi.modules.tariffs.v_2_1_1.schemas import Tariff
    model = Location if module == "locations" else Tariff
    headers = {"Authorization": auth_header(state.cfg, platform.token, platform.version)}
    ids: list[str] = []
    parties: list[str] = []
    invalid: list[str] = []
    totals: list[str] = []
    next_url: str | None = f"{url}?limit={limit}"
    async with httpx.AsyncClient(timeout=30) as http:
        while next_url:
            response = await http.get(next_url, headers=headers)
            data = _envelope(response, f"GET {module}")
            totals.append(str(response.headers.get("x-total-count")))
            for item in data:
                try:
                    parsed = model(**item)
                except ValidationError as exc:
                    invalid.append(f"{item.get('id')}: {_first_error(exc)}")
                    continue
                ids.append(str(parsed.id))
                parties.append(f"{item.get('country_code')}*{item.get('party_id')}")
            link = response.headers.get("link")
            next_url = link[link.index("<") + 1 : link.index(">")] if link else None
    return {"ids": ids, "parties": parties, "invalid": invalid, "totals": totals}


def _our_credentials_body(state: PeerState, token_b: str) -> dict[str, Any]:
    """Our credentials through the library's own schema (it lower-cases party_id/country_code
    in 2.2.1, as it does for every CiString)."""
    data = state.our_credentials(token_b)
    if state.cfg.version == "2.2.1":
        from py_ocpi.modules.credentials.v_2_2_1.schemas import Credentials
    else:
        from py_ocpi.modules.credentials.v_2_1_1.schemas import Credentials
    parsed: dict[str, Any] = json.loads(Credentials(**data).json())
    return parsed


def _parse_their_credentials(data: Any, version: str) -> dict[str, Any]:
    from pydantic import ValidationError

    if version == "2.2.1":
        from py_ocpi.modules.credentials.v_2_2_1.schemas import Credentials
    else:
        from py_ocpi.modules.credentials.v_2_1_1.schemas import Credentials
    try:
        parsed: dict[str, Any] = json.loads(Credentials(**data).json())
        return parsed
    except (ValidationError, TypeError) as exc:
        log.warning("xwpeer.platform_credentials_refused_by_library_schema %s", exc)
        return dict(data) if isinstance(data, dict) else {}


def _pick(state: PeerState, location_id: str | None, evse_uid: str | None) -> tuple[Any, Any]:
    if location_id:
        loc = state.by_id.get(location_id.lower())
        if loc is None:
            raise PeerError(f"no location {location_id!r}")
    else:
        loc = next((x for x in state.locations if x.get("evses")), None)
        if loc is None:
            raise PeerError("no location with an EVSE")
    evses = loc.get("evses") or []
    evse = next((e for e in evses if str(e["uid"]).lower() == (evse_uid or "").lower()), None)
    if evse is None:
        if evse_uid or not evses:
            raise PeerError(f"no EVSE {evse_uid!r} in location {loc['id']!r}")
        evse = evses[0]
    return loc, evse


def _routing_headers(state: PeerState, platform: Platform) -> dict[str, str]:
    """OCPI-from/to-* (2.2.x functional modules). The library itself never sends them."""
    if not (state.cfg.routing_headers and platform.version.startswith("2.2")):
        return {}
    headers = {
        "OCPI-from-country-code": state.cfg.country_code,
        "OCPI-from-party-id": state.cfg.party_id,
    }
    roles = platform.credentials.get("roles") or []
    if roles and isinstance(roles[0], dict):
        headers["OCPI-to-country-code"] = str(roles[0].get("country_code", "")).upper()
        headers["OCPI-to-party-id"] = str(roles[0].get("party_id", "")).upper()
    return headers


async def patch_evse_status(
    state: PeerState,
    location_id: str | None = None,
    evse_uid: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """PATCH {receiver}/{cc}/{pid}/{location}/{evse} {status, last_updated} with the token from the
    handshake. The library has no PATCH client: httpx, with the body built and serialised by the
    library's EVSEPartialUpdate schema. Also updates our own copy (EVSE + Location last_updated)."""
    import httpx

    platform = state.platform
    if platform is None:
        raise PeerError("not registered with a platform")
    role = "RECEIVER" if platform.version.startswith("2.2") else None
    receiver = _endpoint(platform.endpoints, "locations", role)
    if not receiver:
        raise PeerError(f"platform lists no locations {role or ''} endpoint".replace("  ", " "))
    loc, evse = _pick(state, location_id, evse_uid)
    if status is None:
        status = "CHARGING" if evse.get("status") != "CHARGING" else "AVAILABLE"
    if platform.version == "2.2.1":
        from py_ocpi.modules.locations.v_2_2_1.schemas import EVSEPartialUpdate
    else:
        from py_ocpi.modules.locations.v_2_1_1.schemas import EVSEPartialUpdate
    now = _now()
    body = json.loads(EVSEPartialUpdate(status=status, last_updated=now).json(exclude_unset=True))
    url = _join(
        receiver,
        state.cfg.country_code,
        state.cfg.party_id,
        _ci(state.cfg, str(loc["id"])),
        _ci(state.cfg, str(evse["uid"])),
    )
    request_id = str(uuid.uuid4())
    headers = {
        "Authorization": auth_header(state.cfg, platform.token, platform.version),
        "Content-Type": "application/json",
        "X-Request-ID": request_id,
        "X-Correlation-ID": request_id,
        **_routing_headers(state, platform),
    }
    async with httpx.AsyncClient(timeout=15) as http:
        response = await http.patch(url, headers=headers, content=json.dumps(body))
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text
    evse["status"] = body["status"]
    evse["last_updated"] = now
    loc["last_updated"] = now
    result = {
        "url": url,
        "body": body,
        "request_headers": {k: v for k, v in headers.items() if k != "Authorization"},
        "http_status": response.status_code,
        "response": answer,
    }
    state.event("patched_evse", url=url, body=body, http_status=response.status_code)
    return result


def _fixed_client_url(module_id: Any, object_id: str, base_url: str) -> str:
    """py_ocpi.core.push.client_url does f"{base_url}{COUNTRY_CODE}/{PARTY_ID}/{object_id}": no
    slash after the receiver URL unless the receiver advertised one."""
    from py_ocpi.core.config import settings
    from py_ocpi.core.enums import ModuleID

    if module_id == ModuleID.cdrs:
        return base_url
    return _join(base_url, settings.COUNTRY_CODE, settings.PARTY_ID, object_id)


async def put_location(
    state: PeerState, crud: Any, location_id: str | None = None, library_url_bug: bool = False
) -> dict[str, Any]:
    """A whole-Location PUT with the library's own push client (py_ocpi.core.push.push_object):
    it GETs the platform's version details itself, then PUTs adapter.location_adapter(...) to
    the locations RECEIVER, no routing headers, no X-Request-ID. Its URL join is patched unless
    library_url_bug=True."""
    import httpx
    from py_ocpi.core import push as libpush
    from py_ocpi.core.adapter import BaseAdapter
    from py_ocpi.core.enums import ModuleID
    from py_ocpi.core.schemas import Push, Receiver
    from py_ocpi.modules.versions.enums import VersionNumber

    platform = state.platform
    if platform is None:
        raise PeerError("not registered with a platform")
    if location_id is None:
        location_id = str(_pick(state, None, None)[0]["id"])
    object_id = _ci(state.cfg, location_id)
    if platform.details_url is None:
        headers = {"Authorization": auth_header(state.cfg, platform.token, platform.version)}
        async with httpx.AsyncClient(timeout=15) as http:
            offered = _envelope(
                await http.get(platform.versions_url, headers=headers), "GET versions"
            )
        urls = {str(v.get("version")): v.get("url") for v in offered or []}
        platform.details_url = urls.get(platform.version)
        if not platform.details_url:
            raise PeerError(f"platform no longer offers {platform.version}")
    push = Push(
        module_id=ModuleID.locations,
        object_id=object_id,
        receivers=[Receiver(endpoints_url=platform.details_url, auth_token=platform.token)],
    )
    original = libpush.client_url
    if not library_url_bug:
        libpush.client_url = _fixed_client_url
    try:
        result = await libpush.push_object(
            VersionNumber(platform.version), push, crud, BaseAdapter, auth_token=state.cfg.token
        )
    finally:
        libpush.client_url = original
    out: dict[str, Any] = json.loads(result.json())
    state.event("put_location", object_id=object_id, library_url_bug=library_url_bug, result=out)
    return out


# ---- the app ----------------------------------------------------------------------------------
class LinkFixMiddleware:
    """Rewrites the library's Link header into a usable one.

    py_ocpi.core.utils.get_list builds it as f"<https://{OCPI_HOST}/{OCPI_PREFIX}/cpo/{version}/
    {module}/?{urlencode(filters)}>": scheme hard-coded to https, the enum members formatted as
    'VersionNumber.v_2_2_1' / 'ModuleID.locations' on Python 3.11, date_from=None&date_to=None
    when no filter was given (which then fails validation), and an empty 'Link: ' on the last
    page. We keep its offset/limit and rebuild the URL from the request; empty -> no header."""

    def __init__(self, app: Any, base_url: str) -> None:
        self.app = app
        self.base_url = base_url

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_fixed(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for key, value in message.get("headers", []):
                    if key.lower() == b"link":
                        fixed = self.fix(value.decode("latin-1"), scope)
                        if fixed:
                            headers.append((key, fixed.encode("latin-1")))
                        continue
                    headers.append((key, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_fixed)

    def fix(self, link: str, scope: Any) -> str | None:
        match = re.search(r"<([^>]*)>", link)
        if not match:
            return None
        query = parse_qs(urlsplit(match.group(1)).query)
        if "offset" not in query or "limit" not in query:
            return None
        kept = [
            (k, v)
            for k, v in parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)
            if k not in ("offset", "limit")
        ]
        params = [*kept, ("offset", query["offset"][0]), ("limit", query["limit"][0])]
        return f'<{self.base_url}{scope["path"]}?{urlencode(params)}>; rel="next"'


def create_app(cfg: PeerConfig | None = None) -> Any:
    """ASGI app factory (uvicorn --factory). One peer per process: the library's settings are
    process-global."""
    cfg = cfg or PeerConfig.from_env()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    configure_library(cfg)

    from fastapi import APIRouter, Body, Query
    from fastapi.responses import JSONResponse
    from py_ocpi import get_application
    from py_ocpi.core.adapter import BaseAdapter
    from py_ocpi.core.dependencies import get_endpoints, pagination_filters
    from py_ocpi.core.enums import ModuleID, RoleEnum
    from py_ocpi.modules.versions.enums import VersionNumber

    for name, token in (("XWPEER_TOKEN", cfg.token), ("XWPEER_TOKEN_A", cfg.token_a)):
        if cfg.version == "2.1.1" and not library_accepts_raw(token):
            log.warning(
                "xwpeer.token_refused_raw_by_library %s: the library's /versions check fails "
                "on this token sent raw (2.1.1); use e.g. 32 alphanumerics",
                name,
            )
    locations, report = clean_locations(cfg)
    state = PeerState(cfg, locations, report)
    crud = make_crud(state)
    app = get_application(
        version_numbers=[VersionNumber(cfg.version)],
        roles=[RoleEnum.cpo],
        crud=crud,
        modules=[ModuleID.credentials_and_registration, ModuleID.locations],
        authenticator=make_authenticator(state),
        adapter=BaseAdapter,
    )
    endpoints = {VersionNumber(cfg.version): _library_endpoints(cfg.version, cfg.credentials_role)}
    app.dependency_overrides[get_endpoints] = lambda: endpoints

    if cfg.max_limit:
        cap = cfg.max_limit

        def capped_filters(
            date_from: datetime = Query(default=None),  # noqa: B008
            date_to: datetime = Query(default=None),  # noqa: B008
            offset: int = Query(default=0),
            limit: int = Query(default=50),
        ) -> dict[str, Any]:
            # Capping here (not in Crud.list) keeps the library's Link/X-Limit consistent.
            return {
                "date_from": date_from,
                "date_to": date_to,
                "offset": offset,
                "limit": min(limit, cap),
            }

        app.dependency_overrides[pagination_filters] = capped_filters

    admin = APIRouter(prefix="/_peer")

    def fail(exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=409)

    @admin.get("/state")
    async def peer_state() -> dict[str, Any]:
        platform = asdict(state.platform) if state.platform else None
        return {
            "config": {k: str(v) for k, v in asdict(cfg).items()},
            "versions_url": cfg.versions_url,
            "endpoints": endpoints[VersionNumber(cfg.version)],
            "locations": len(state.locations),
            "evses": sum(len(x.get("evses") or []) for x in state.locations),
            "cleaning": report.summary(),
            "token_a_open": state.token_a_open,
            "issued_tokens": state.issued,
            "platform": platform,
            "events": state.events[-50:],
        }

    @admin.get("/locations")
    async def served_locations() -> list[dict[str, Any]]:
        return [
            json.loads(BaseAdapter.location_adapter(x, VersionNumber(cfg.version)).json())
            for x in state.locations
        ]

    @admin.post("/register", response_model=None)
    async def admin_register(payload: dict[str, Any] | None = Body(default=None)) -> Any:  # noqa: B008
        payload = payload or {}
        try:
            return await register_with_platform(
                state, payload.get("versions_url"), payload.get("token_a")
            )
        except (PeerError, OSError) as exc:
            return fail(exc)
        except Exception as exc:  # httpx errors
            return fail(exc)

    @admin.post("/patch-evse", response_model=None)
    async def admin_patch(payload: dict[str, Any] | None = Body(default=None)) -> Any:  # noqa: B008
        payload = payload or {}
        try:
            return await patch_evse_status(
                state, payload.get("location_id"), payload.get("evse_uid"), payload.get("status")
            )
        except Exception as exc:
            return fail(exc)

    @admin.post("/put-location", response_model=None)
    async def admin_put(payload: dict[str, Any] | None = Body(default=None)) -> Any:  # noqa: B008
        payload = payload or {}
        try:
            return await put_location(
                state, crud, payload.get("location_id"), bool(payload.get("library_url_bug"))
            )
        except Exception as exc:
            return fail(exc)

    @admin.post("/pull-platform", response_model=None)
    async def admin_pull(payload: dict[str, Any] | None = Body(default=None)) -> Any:  # noqa: B008
        payload = payload or {}
        try:
            return await pull_from_platform(
                state, payload.get("module") or "locations", int(payload.get("limit") or 50)
            )
        except Exception as exc:
            return fail(exc)

    @admin.post("/reset")
    async def admin_reset() -> dict[str, Any]:
        state.forget_platform()
        state.issued.clear()
        state.token_a_open = True
        return {"token_a_open": True}

    app.include_router(admin)

    if cfg.auto_register and cfg.platform_versions_url:

        @app.on_event("startup")
        async def _auto_register() -> None:
            async def attempt() -> None:
                # after start-up: the platform calls our versions endpoint during our POST
                for delay in (0.5, 1, 2, 4, 8):
                    await asyncio.sleep(delay)
                    try:
                        await register_with_platform(state)
                        return
                    except Exception as exc:
                        log.warning("xwpeer.auto_register_failed %s", exc)

            state.background = asyncio.get_running_loop().create_task(attempt())

    if cfg.fix_link:
        app.add_middleware(LinkFixMiddleware, base_url=cfg.base_url)
    app.state.peer = state
    app.state.crud = crud
    return app


def b64(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def main() -> None:
    import uvicorn

    cfg = PeerConfig.from_env()
    app = create_app(cfg)
    print(f"extrawest-ocpi peer: {cfg.versions_url} ({cfg.version})", file=sys.stderr, flush=True)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning")


if __name__ == "__main__":
    main()
