"""A sandbox CPO network: the bundled real locations of one operator (or of several, behind a
hub), the credentials it holds, and the status changes it makes. State that a real peer would
keep across restarts (tokens, our endpoints) is saved to a JSON file."""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.ocpi import transport

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
OCPI_FIXTURES = PROJECT_ROOT / "fixtures" / "ocpi"
SPEC_EXAMPLES = PROJECT_ROOT / "fixtures" / "spec-examples"

# Realistic next statuses (most changes are a session starting or ending).
_TRANSITIONS: dict[str, tuple[tuple[str, float], ...]] = {
    "AVAILABLE": (
        ("CHARGING", 0.85),
        ("BLOCKED", 0.05),
        ("RESERVED", 0.04),
        ("OUTOFORDER", 0.03),
        ("INOPERATIVE", 0.03),
    ),
    "CHARGING": (("AVAILABLE", 0.9), ("BLOCKED", 0.07), ("OUTOFORDER", 0.03)),
    "BLOCKED": (("AVAILABLE", 0.9), ("CHARGING", 0.1)),
    "RESERVED": (("CHARGING", 0.7), ("AVAILABLE", 0.3)),
    "OUTOFORDER": (("AVAILABLE", 0.8), ("INOPERATIVE", 0.2)),
    "INOPERATIVE": (("AVAILABLE", 0.9), ("OUTOFORDER", 0.1)),
    "UNKNOWN": (("AVAILABLE", 0.7), ("CHARGING", 0.3)),
}


def next_status(current: str, rng: random.Random) -> str:
    choices = _TRANSITIONS.get(current.strip().upper(), _TRANSITIONS["UNKNOWN"])
    roll = rng.random()
    for status, weight in choices:
        roll -= weight
        if roll <= 0:
            return status
    return choices[0][0]


@dataclass
class Credentials:
    """What this sandbox network knows about its one counterpart (Wattlas)."""

    token_a: str  # what Wattlas may register with (when Wattlas initiates)
    issued: list[str] = field(default_factory=list)  # tokens Wattlas calls us with (C)
    outbound_token: str | None = None  # token we call Wattlas with
    outbound_version: str | None = None
    outbound_endpoints: list[dict[str, Any]] = field(default_factory=list)
    outbound_party: tuple[str, str] | None = None  # Wattlas' party, the OCPI-to-* of pushes


@dataclass(frozen=True)
class DatasetPages:
    """A generated dataset (``python -m devtools.bench generate``) served page by page from its
    files, without holding it in memory: the pull benchmark's peer."""

    directory: Path
    page_size: int
    pages: int
    total: int

    @classmethod
    def open(cls, directory: Path) -> DatasetPages:
        manifest = json.loads((directory / "manifest.json").read_text())
        return cls(
            directory,
            int(manifest["page_size"]),
            int(manifest["pages"]),
            int(manifest["locations"]),
        )

    def page(self, index: int) -> bytes:
        return (self.directory / f"page-{index:05d}.json").read_bytes()


@dataclass
class SandboxNetwork:
    name: str
    version: str
    parties: list[tuple[str, str, str]]  # (country_code, party_id, business name)
    locations: list[dict[str, Any]]
    tariffs: list[dict[str, Any]]
    credentials: Credentials
    page_size: int = 100
    dataset: DatasetPages | None = None
    # A 2.3.0 hub names itself in its credentials (``hub_party_id``, e.g. NLHUB).
    hub_party: str | None = None
    # A 2.2.1 roaming hub: its credentials name only itself, with role HUB; the parties it
    # routes are in its HubClientInfo (``clients``), their locations in its Sender interface.
    hub_role: tuple[str, str, str] | None = None
    clients: list[dict[str, Any]] = field(default_factory=list)
    # How its version details list credentials: SENDER (the errata) or RECEIVER (what several
    # real peers do).
    credentials_role: str = "SENDER"
    # Its Link header: ok | broken (another scheme and a path that does not exist, as a real
    # library builds it) | loop (points back to the same page) | none (no Link at all).
    link_mode: str = "ok"

    @property
    def versions(self) -> list[str]:
        # A peer usually offers its current version and what it supported before.
        offered = [self.version]
        if self.version == "2.3.0":
            offered.append("2.2.1")
        if self.version != "2.1.1":
            offered.append("2.1.1")
        return offered

    def accepts(self, authorization: str | None) -> bool:
        tokens = {self.credentials.token_a, *self.credentials.issued}
        return any(c in tokens for c in transport.token_candidates(authorization))

    def location(self, location_id: str) -> dict[str, Any] | None:
        for loc in self.locations:
            if str(loc.get("id", "")).upper() == location_id.upper():
                return loc
        return None

    def evses(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [
            (loc, evse)
            for loc in self.locations
            for evse in loc.get("evses") or []
            if isinstance(evse, dict)
            and evse.get("uid")
            and evse.get("connectors")
            and str(evse.get("status", "")).strip().upper() not in ("REMOVED", "PLANNED")
        ]

    def change_status(
        self, rng: random.Random, *, at: datetime | None = None
    ) -> tuple[dict[str, Any], dict[str, Any], str] | None:
        """Pick an EVSE, move it to a realistic next status, bump its and its location's time."""
        candidates = self.evses()
        if not candidates:
            return None
        loc, evse = rng.choice(candidates)
        status = next_status(str(evse.get("status", "UNKNOWN")), rng)
        stamp = transport.format_timestamp(at or datetime.now(UTC))
        evse["status"] = status
        evse["last_updated"] = stamp
        loc["last_updated"] = stamp
        return loc, evse, status

    def owner_of(self, loc: dict[str, Any]) -> tuple[str, str]:
        cc = loc.get("country_code") or self.parties[0][0]
        pid = loc.get("party_id") or self.parties[0][1]
        return str(cc).upper(), str(pid).upper()


def _objects(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    objects = data.get("data") if isinstance(data, dict) else data
    return [o for o in objects or [] if isinstance(o, dict)]


def _parties_of(
    locations: list[dict[str, Any]], fallback: str | None
) -> list[tuple[str, str, str]]:
    found: dict[tuple[str, str], str] = {}
    for loc in locations:
        cc, pid = loc.get("country_code"), loc.get("party_id")
        if isinstance(cc, str) and isinstance(pid, str) and cc and pid:
            operator = loc.get("operator")
            name = operator.get("name") if isinstance(operator, dict) else None
            found.setdefault((cc.upper(), pid.upper()), str(name or pid))
    if not found and fallback:
        cc, pid = fallback.split("*", 1)
        found[(cc, pid)] = pid
    return [(cc, pid, name) for (cc, pid), name in sorted(found.items())]


def load_networks(
    names: list[str] | None = None,
    *,
    page_size: int = 100,
    hub: bool = True,
    demo_tariffs: bool = False,
) -> dict[str, SandboxNetwork]:
    """Sandbox networks from the fixture manifest; plus a hub serving several operators."""
    manifest = json.loads((OCPI_FIXTURES / "manifest.json").read_text())["networks"]
    out: dict[str, SandboxNetwork] = {}
    for entry in manifest:
        if names is not None and entry["name"] not in names:
            continue
        locations = _objects(OCPI_FIXTURES / entry["file"])
        out[entry["name"]] = SandboxNetwork(
            name=entry["name"],
            version=entry["version"],
            parties=_parties_of(locations, entry.get("party")),
            locations=locations,
            tariffs=[],
            credentials=Credentials(token_a=secrets.token_urlsafe(24)),
            page_size=page_size,
        )
        if demo_tariffs:
            out[entry["name"]] = with_demo_tariffs(out[entry["name"]])
    if hub and (names is None or "hub" in names):
        out["hub"] = hub_network(page_size=page_size)
    # Only when asked for by name: they serve the parties of the spec's examples, as the hub does.
    for name in ("spec230", "hub230"):
        if names is not None and name in names:
            out[name] = spec230_network(name, page_size=page_size)
    if names is not None and "roaminghub" in names:
        out["roaminghub"] = roaming_hub_network(page_size=page_size)
    return out


# Demo prices (issue 13, ``wattlas run`` only): the bundled real feeds publish no tariffs, so
# the demo attaches the OCPI 2.2.1 spec's example tariffs, re-owned by each network's party, to
# every DEMO_EVERY-th location, marked ``"basis": "demo"`` (the API labels their prices so) and
# saying so in ``tariff_alt_text``. Networks of 2.1.1 (no tariff party, one tariff per connector)
# are left without.
DEMO_EVERY = 3
DEMO_EXAMPLES = (  # the spec's ids repeat (tariff_6 and tariff_8 are both "16"): ours are "T<n>"
    "tariff_8_simple_025kwh.json",
    "tariff_9_025kwh_start.json",
    "tariff_10_025kwh_parking_start.json",
    "tariff_1_simple_2hour.json",
    "tariff_12_025kwh_min_price.json",
    "tariff_13_simple_3hour_5parking.json",
    "tariff_4_complex.json",
    "tariff_5_free_of_charge.json",
)
DEMO_NOTE = "Demo price: an OCPI specification example, not this operator's tariff."


def demo_tariffs(cc: str, pid: str) -> list[dict[str, Any]]:
    """The spec's example tariffs as a party's own, valid now (the examples' validity windows,
    long past, are dropped), with ids ``DEMO-T<n>`` after their file names."""
    tariffs = []
    for name in DEMO_EXAMPLES:
        example = json.loads((SPEC_EXAMPLES / name).read_text())
        for window in ("start_date_time", "end_date_time"):
            example.pop(window, None)
        number = name.split("_")[1]
        tariffs.append(
            {
                **example,
                "country_code": cc,
                "party_id": pid,
                "id": f"DEMO-T{number}",
                "basis": "demo",
                "tariff_alt_text": [{"language": "en", "text": DEMO_NOTE}],
            }
        )
    return tariffs


def with_demo_tariffs(network: SandboxNetwork) -> SandboxNetwork:
    """``network`` with the spec's example tariffs on every ``DEMO_EVERY``-th location (the
    examples taken in turn, owned by the location's own party, listed first on each connector:
    the real feeds' own tariff ids name tariffs they do not publish)."""
    if network.version == "2.1.1" or not network.parties or network.tariffs:
        return network
    by_party: dict[tuple[str, str], list[dict[str, Any]]] = {}
    locations = []
    for index, location in enumerate(network.locations):
        if index % DEMO_EVERY:
            locations.append(location)
            continue
        party = network.owner_of(location)
        tariffs = by_party.setdefault(party, demo_tariffs(*party))
        tariff_id = tariffs[(index // DEMO_EVERY) % len(tariffs)]["id"]
        evses = []
        for evse in location.get("evses") or []:
            connectors = [
                {**c, "tariff_ids": [tariff_id, *(c.get("tariff_ids") or [])]}
                if isinstance(c, dict)
                else c
                for c in evse.get("connectors") or []
            ]
            evses.append({**evse, "connectors": connectors} if isinstance(evse, dict) else evse)
        locations.append({**location, "evses": evses})
    tariffs = [t for party_tariffs in by_party.values() for t in party_tariffs]
    return replace(network, locations=locations, tariffs=tariffs)


def roaming_hub_network(*, page_size: int = 100) -> SandboxNetwork:
    """A 2.2.1 roaming hub (NL*RHB, role HUB) routing two real operators, Zepto (PL*ZEP) and
    EVIO (PT*EVI): it serves their locations (GET All via the hub), lists them CONNECTED in its
    HubClientInfo, and pushes their status changes with routing headers (ocpi.md §1.9, §2.6)."""
    locations: list[dict[str, Any]] = []
    for file in ("ocpi_2_2_locations-zepto.json", "ocpi_2_2_locations-evio.json"):
        locations += _objects(OCPI_FIXTURES / file)
    stamp = "2026-11-01T00:00:00Z"
    clients = [
        {"country_code": cc, "party_id": pid, "role": "CPO", "status": "CONNECTED",
         "last_updated": stamp}
        for cc, pid, _ in _parties_of(locations, None)
    ]  # fmt: skip
    return SandboxNetwork(
        name="roaminghub",
        version="2.2.1",
        parties=_parties_of(locations, None),
        locations=locations,
        tariffs=[],
        credentials=Credentials(token_a=secrets.token_urlsafe(24)),
        page_size=page_size,
        hub_role=("NL", "RHB", "Sandbox Roaming Hub"),
        clients=clients,
    )


def hub_network(*, page_size: int = 100) -> SandboxNetwork:
    """A roaming hub: several real operators behind one connection (ocpi.md P29), plus the
    official example tariffs of the spec's example party."""
    locations: list[dict[str, Any]] = []
    for file in (
        "ocpi_2_2_1_locations-ezvolt.json",
        "ocpi_2_2_locations-zepto.json",
        "ocpi_2_2_locations-evio.json",
    ):
        locations += _objects(OCPI_FIXTURES / file)
    tariffs = [
        json.loads(p.read_text())
        for p in sorted(SPEC_EXAMPLES.glob("tariff_*.json"))
        if p.name != "tariff_put_example.json"
    ]
    # Several spec examples reuse an id; the first of each id is the one a hub would serve.
    unique: dict[str, dict[str, Any]] = {}
    for tariff in tariffs:
        unique.setdefault(str(tariff.get("id")), tariff)
    parties = [*_parties_of(locations, None), ("DE", "ALL", "Spec example operator")]
    return SandboxNetwork(
        name="hub",
        version="2.2.1",
        parties=parties,
        locations=locations,
        tariffs=list(unique.values()),
        credentials=Credentials(token_a=secrets.token_urlsafe(24)),
        page_size=page_size,
    )


def spec230_network(name: str = "spec230", *, page_size: int = 100) -> SandboxNetwork:
    """An OCPI 2.3.0 platform serving the spec's 2.3.0 example Locations (parking places) and
    Tariffs (``tax_included``); as ``hub230``, a 2.3.0 hub (``hub_party_id`` NLHUB) listing
    every party it reaches."""
    folder = SPEC_EXAMPLES / "2.3.0"
    locations = [
        json.loads((folder / f"{example}.json").read_text())
        for example in (
            "location_example",
            "location_example_parking_garage_opening_hours",
            "location_example_uc2_destination_charger",  # uc3 is the same site, unpublished
            "location_example_uc4_limited_visibility",
            "location_example_uc5_home_charge_point",
        )
    ]
    unique: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in sorted(folder.glob("tariff_*.json")):
        tariff = json.loads(path.read_text())
        if "last_updated" in tariff:  # tariff_put_example is a PUT body without it
            key = (tariff["country_code"], tariff["party_id"], str(tariff["id"]))
            unique.setdefault(key, tariff)
    tariffs = list(unique.values())
    parties = {(cc, pid): (cc, pid, business) for cc, pid, business in _parties_of(locations, None)}
    for tariff in tariffs:
        cc, pid = tariff["country_code"], tariff["party_id"]
        parties.setdefault((cc, pid), (cc, pid, pid))
    return SandboxNetwork(
        name=name,
        version="2.3.0",
        parties=[parties[key] for key in sorted(parties)],
        locations=locations,
        tariffs=tariffs,
        credentials=Credentials(token_a=secrets.token_urlsafe(24)),
        page_size=page_size,
        hub_party="NLHUB" if name == "hub230" else None,
    )


def dataset_network(directory: Path) -> SandboxNetwork:
    pages = DatasetPages.open(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    parties = [(p.split("*")[0], p.split("*")[1], p) for p in sorted(manifest["parties"])]
    return SandboxNetwork(
        name="bench",
        version="2.2.1",
        parties=parties,
        locations=[],
        tariffs=[],
        credentials=Credentials(token_a=secrets.token_urlsafe(24)),
        page_size=pages.page_size,
        dataset=pages,
    )


def save_state(path: Path, networks: dict[str, SandboxNetwork]) -> None:
    state = {name: asdict(n.credentials) for name, n in networks.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2))


def restore_state(path: Path, networks: dict[str, SandboxNetwork]) -> None:
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return
    for name, saved in state.items():
        if name in networks and isinstance(saved, dict):
            networks[name].credentials = Credentials(**saved)
