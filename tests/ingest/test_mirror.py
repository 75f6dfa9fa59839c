"""A carmaker's offline copy (issue 14): a mirror client loads the snapshot, then follows the
change feed while random pushes (new and changed locations, status patches, hides and shows,
tariffs put and deleted) arrive from four writers at once, the API process is SIGKILLed and
started again, and a second mirror resumes from an old cursor. Both end identical to the API's
own answer, and each saw every committed change exactly once, in order.

All real: the service under granian (two workers), PostgreSQL, Redis, HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store
from ingest import credentials
from tests.conftest import ServerProcess, settings_env, start_granian
from tests.ingest.helpers import TOKEN, b64, location_example, spec

LOCATIONS = 24
STATUSES = ("AVAILABLE", "CHARGING", "BLOCKED", "OUTOFORDER", "UNKNOWN", "RESERVED")
BASE = "/ocpi/2.2.1/locations/BE/BEC"
START = datetime(2025, 1, 1, tzinfo=UTC)


class Clock:
    """Strictly increasing OCPI timestamps (one second apart) for every operation."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return (START + timedelta(seconds=self.n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def a_location(rng: random.Random, n: int, at: str) -> dict[str, Any]:
    location = location_example()
    location["id"] = f"LOC{n}"
    location["name"] = f"Site {n} v{rng.randrange(1000)}"
    location["coordinates"] = {
        "latitude": f"{51.0 + n * 0.01:.6f}",
        "longitude": f"{3.7 + rng.random() * 0.01:.6f}",
    }
    evses = []
    for k in range(rng.randint(1, 3)):
        evse = copy.deepcopy(location_example()["evses"][k % 2])
        evse["uid"] = f"{n}-E{k}"
        evse["evse_id"] = f"BE*BEC*E{n:03d}{k}"
        evse["status"] = rng.choice(STATUSES)
        evse["floor_level"] = str(rng.randrange(-2, 3))
        evse["last_updated"] = at
        for connector in evse["connectors"]:
            connector["last_updated"] = at
        evses.append(evse)
    location["evses"] = evses
    location["last_updated"] = at
    return location


def a_tariff(rng: random.Random, tariff_id: str, at: str) -> dict[str, Any]:
    tariff = spec("tariff_3_alt_url.json")
    tariff.update(country_code="BE", party_id="BEC", id=tariff_id, last_updated=at)
    tariff["elements"][0]["price_components"][0]["price"] = round(rng.uniform(0.1, 0.9), 2)
    return tariff


async def writer(
    seed: int, url: str, clock: Clock, stop: asyncio.Event, counts: dict[str, int]
) -> None:
    """Random operations until ``stop``; failures (the server being killed) are retried by
    going on: what the feed must match is what was committed, whatever the client heard."""
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=b64(TOKEN)) as client:
        while not stop.is_set():
            n = rng.randrange(LOCATIONS)
            roll = rng.random()
            try:
                if roll < 0.3:
                    response = await client.put(
                        f"{BASE}/LOC{n}", json=a_location(rng, n, clock.next())
                    )
                elif roll < 0.75:
                    response = await client.patch(
                        f"{BASE}/LOC{n}/{n}-E{rng.randrange(3)}",
                        json={"status": rng.choice(STATUSES), "last_updated": clock.next()},
                    )
                elif roll < 0.87:
                    response = await client.patch(
                        f"{BASE}/LOC{n}",
                        json={"publish": rng.random() < 0.5, "last_updated": clock.next()},
                    )
                elif roll < 0.95:
                    tariff_id = rng.choice(("11", "12"))
                    response = await client.put(
                        f"/ocpi/2.2.1/tariffs/BE/BEC/{tariff_id}",
                        json=a_tariff(rng, tariff_id, clock.next()),
                    )
                else:
                    tariff_id = rng.choice(("11", "12", "13"))
                    response = await client.delete(f"/ocpi/2.2.1/tariffs/BE/BEC/{tariff_id}")
                counts[str(response.json().get("status_code"))] = (
                    counts.get(str(response.json().get("status_code")), 0) + 1
                )
            except (httpx.HTTPError, json.JSONDecodeError):
                counts["error"] = counts.get("error", 0) + 1
                await asyncio.sleep(0.05)


# ---- the mirror ------------------------------------------------------------------------------
CLOCK_FIELDS = ("open_now",)


def facts(line: dict[str, Any]) -> dict[str, Any]:
    """A location without what status pushes change (kept in ``states``), without its tariffs
    (kept by key in ``tariffs``: a tariff changes without its locations), and without what
    only the clock or the question changes (ages, the network's last contact, prices)."""
    body = copy.deepcopy(line)
    for name in (
        "availability",
        "last_updated",
        "source",
        "tariffs",
        "unknown_tariff_ids",
        "price_summary",
        "price",
        *CLOCK_FIELDS,
    ):
        body.pop(name, None)
    body["connector_groups"] = [
        {k: g[k] for k in ("standard", "power_type", "max_power_kw", "evses")}
        for g in body["connector_groups"]
    ]
    for evse in body["evses"]:
        for name in ("status", "status_bucket", "status_updated_at", "status_age_s", "stale"):
            evse.pop(name, None)
        for connector in evse["connectors"]:
            connector.pop("price", None)
    return body


def state_of(line: dict[str, Any]) -> dict[str, Any]:
    counts = line["availability"]
    return {
        "counts": {
            k: counts[k]
            for k in ("total", "available", "occupied", "out_of_service", "unknown", "planned")
        },
        "evses": {e["uid"]: (e["status"], e["status_updated_at"]) for e in line["evses"]},
        "last_updated": line["last_updated"],
    }


@dataclass
class Mirror:
    """What an in-car copy keeps: every location, its availability, every tariff."""

    url: str
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    tariffs: dict[str, dict[str, Any]] = field(default_factory=dict)
    cursor: str = "0"
    seen: list[int] = field(default_factory=list)  # every change's cursor, in the order read
    history: list[str] = field(default_factory=list)  # next_cursor after each page

    async def load(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.get("/v1/export", headers={"Accept-Encoding": "gzip"})
            assert response.status_code == 200, response.text
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert lines[-1] == {"cursor": response.headers["wattlas-cursor"]}
        self.locations, self.states, self.tariffs = {}, {}, {}
        for line in lines[:-1]:
            self.put(line)
        self.cursor = lines[-1]["cursor"]

    def put(self, line: dict[str, Any]) -> None:
        self.locations[line["id"]] = facts(line)
        self.states[line["id"]] = state_of(line)
        for tariff in line["tariffs"]:
            key = f"{line['network']['country_code']}*{line['network']['party_id']}*{tariff['id']}"
            self.tariffs[key] = tariff

    def apply(self, change: dict[str, Any]) -> None:
        kind, location_id = change["kind"], change["location_id"]
        if kind == "location":
            self.put(change["location"])
        elif kind == "removed":
            self.locations.pop(location_id, None)
            self.states.pop(location_id, None)
        elif kind == "availability":
            state = change["availability"]
            self.states[location_id] = {
                "counts": state["counts"],
                "evses": {e["uid"]: (e["status"], e["status_updated_at"]) for e in state["evses"]},
                "last_updated": state["last_updated"],
            }
        else:
            assert kind == "tariff"
            if change.get("tariff") is None:
                self.tariffs.pop(change["tariff_key"], None)
            else:
                tariff = {
                    k: v
                    for k, v in change["tariff"].items()
                    if k not in ("country_code", "party_id")
                }
                self.tariffs[change["tariff_key"]] = tariff

    async def follow(self, stop: asyncio.Event, *, pages: int | None = None) -> None:
        """Page after page (long-polling when caught up) until ``stop`` and caught up, or
        ``pages`` pages; connection errors (the server killed) are waited out."""
        async with httpx.AsyncClient(base_url=self.url, timeout=15) as client:
            read = 0
            while pages is None or read < pages:
                try:
                    response = await client.get(
                        "/v1/changes", params={"cursor": self.cursor, "limit": 40, "wait_s": 1}
                    )
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
                    continue
                if response.status_code != 200:
                    await asyncio.sleep(0.1)  # 503 while the database or server restarts
                    continue
                page = response.json()
                for change in page["changes"]:
                    self.seen.append(int(change["cursor"]))
                    self.apply(change)
                self.cursor = page["next_cursor"]
                self.history.append(self.cursor)
                read += 1
                if stop.is_set() and not page["changes"]:
                    return


@pytest.fixture
async def cpo_network(settings: Settings) -> None:
    async with Store(settings.database_url or "", max_size=1, name="test") as store:
        await credentials.add_static(
            store, "becharged", TOKEN, [Party.parse("BE*BEC")], version="2.2.1"
        )
    with psycopg.connect(settings.database_url or "", autocommit=True) as conn:
        # Statuses never stale during the test: the copy compares them as they are.
        conn.execute("UPDATE networks SET last_contact_at = now(), stale_after_s = 315360000")


@contextlib.asynccontextmanager
async def writers(url: str, clock: Clock, count: int) -> AsyncIterator[dict[str, int]]:
    stop = asyncio.Event()
    counts: dict[str, int] = {}
    tasks = [asyncio.create_task(writer(seed, url, clock, stop, counts)) for seed in range(count)]
    try:
        yield counts
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_a_mirror_stays_identical_through_random_writes_a_crash_and_an_old_cursor(
    settings: Settings, cpo_network: None, tmp_path: Path
) -> None:
    env = settings_env(settings)
    # Two workers: two push writers commit at once, two sequencers take turns.
    server: ServerProcess = start_granian("wattlas.asgi:app", env, tmp_path, name="api", workers=2)
    clock = Clock()
    first = Mirror(server.url)
    late = Mirror(server.url)
    done = asyncio.Event()
    try:
        async with writers(server.url, clock, 4) as counts:
            await asyncio.sleep(1.0)
            await first.load()  # a snapshot taken while the writers write
            following = asyncio.create_task(first.follow(done))
            await asyncio.sleep(1.5)
            # A crash of the API process: no shutdown of any kind, then a new one.
            server.kill_hard()
            await asyncio.sleep(0.5)
            server = start_granian(
                "wattlas.asgi:app", env, tmp_path, name="api-again", port=server.port, workers=2
            )
            await asyncio.sleep(1.0)
            # A second copy loads, reads a few pages, loses its state after them and resumes
            # from a cursor two pages older than where it was: the changes it reads twice are
            # applied twice, which changes nothing.
            await late.load()
            await late.follow(done, pages=4)
            older = late.history[-3]
            late.seen = [s for s in late.seen if s <= int(older)]
            late.cursor = older
            resumed = asyncio.create_task(late.follow(done))
            await asyncio.sleep(1.5)
        done.set()
        await asyncio.wait_for(asyncio.gather(following, resumed), 60)

        final = Mirror(server.url)
        await final.load()
        assert final.locations, "the writers wrote nothing visible"
        with psycopg.connect(settings.database_url or "") as conn:
            committed = [r[0] for r in conn.execute("SELECT seq FROM changes ORDER BY seq")]
            stored_tariffs = {
                f"{cc}*{pid}*{tid}"
                for cc, pid, tid in conn.execute(
                    "SELECT country_code, party_id, tariff_id FROM tariffs WHERE deleted_at IS NULL"
                )
            }
        for mirror in (first, late):
            assert mirror.cursor == final.cursor
            assert mirror.locations == final.locations
            assert mirror.states == final.states
            # Every tariff the copy keeps exists; those the snapshot shows are as it shows them.
            assert set(mirror.tariffs) <= stored_tariffs
            differing = {
                (key, name): (mirror.tariffs.get(key, {}).get(name), value)
                for key, tariff in final.tariffs.items()
                for name, value in tariff.items()
                if mirror.tariffs.get(key, {}).get(name) != value
            }
            assert differing == {}
        # Exactly once and in order: each copy read every committed change after its snapshot.
        start_first = committed.index(first.seen[0])
        assert first.seen == committed[start_first:]
        assert late.seen == sorted(set(late.seen))
        assert late.seen == committed[committed.index(late.seen[0]) :]
        # The detail endpoint agrees with the copy for every location.
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            for location_id, kept in first.locations.items():
                detail = (await client.get(f"/v1/locations/{location_id}")).json()
                assert facts(detail) == kept
                assert state_of(detail) == first.states[location_id]
        assert counts.get("1000", 0) > 100, counts
        assert counts.get("error", 0) > 0, "the crash interrupted no request"
    finally:
        server.stop()
