"""OCPI EVSE status PATCH pushes into the receiver, as a network sends them: wrk at full rate,
every answer checked for OCPI status 1000 (acknowledged = committed), and meanwhile a probe
that pushes a change, waits for the acknowledgement, and reads the location back through the
public API until the change shows: the time from the push to the driver seeing it."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from app.store import Store, networks
from devtools.bench.harness import STATE, Environment, Server
from devtools.bench.stats import summary_ms

OCPI_VERSION = "2.2.1"
PROBES = 200


def _token_header(token: str) -> str:
    return "Token " + base64.b64encode(token.encode()).decode()


async def _push_token(env: Environment) -> str:
    """A token of the bench network (registered by the pull), known to this script."""
    token = "bench-push-" + secrets.token_hex(12)
    async with Store.from_settings(env.settings, name="bench-push", max_size=1) as store:
        network_id = await networks.network_id_by_name(store, "bench")
        async with store.transaction() as tx:
            await networks.add_token(tx, network_id, token, "STATIC")
    return token


def _evses(database_url: str, n: int, seed: float) -> list[tuple[str, str, str, str, str]]:
    """(country, party, location id, EVSE uid, public location id) of n random EVSEs."""
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT setseed(%s)", (seed,))
        rows = conn.execute(
            """
            SELECT l.country_code, l.party_id, l.ocpi_id, e.uid, l.public_id
            FROM evses e JOIN locations l ON l.id = e.location_id
            WHERE l.visible AND e.visible ORDER BY random() LIMIT %s
            """,
            (n,),
        ).fetchall()
    return [tuple(str(v) for v in row) for row in rows]  # type: ignore[misc]


def _lua(evses: list[tuple[str, str, str, str, str]], token: str, base_epoch_s: int) -> str:
    paths = ",\n".join(
        json.dumps(f"/ocpi/{OCPI_VERSION}/locations/{cc}/{pid}/{loc}/{uid}")
        for cc, pid, loc, uid, _ in evses
    )
    # Each wrk thread patches its own EVSEs (stride by thread), every visit 1 ms later than the
    # one before, so that every PATCH is newer than what is stored and really changes it.
    return f"""
local paths = {{
{paths}
}}
local statuses = {{"AVAILABLE", "CHARGING", "AVAILABLE", "BLOCKED"}}
local threads = {{}}
local counter = 1
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  n = 0
  failures = 0
  wrk.method = "PATCH"
  wrk.headers["Authorization"] = "{_token_header(token)}"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Request-ID"] = "bench"
  wrk.headers["X-Correlation-ID"] = "bench"
end
function request()
  local per = math.floor(#paths / 2)
  local k = (tid - 1) * per + (n % per) + 1
  local visit = math.floor(n / per)
  n = n + 1
  local ms = visit % 1000
  local s = {base_epoch_s} + math.floor(visit / 1000)
  local body = string.format('{{"status":"%s","last_updated":"%s.%03dZ"}}',
    statuses[(visit % #statuses) + 1], os.date("!%Y-%m-%dT%H:%M:%S", s), ms)
  return wrk.format(nil, paths[k], nil, body)
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"status_code":1000', 1, true) then
    failures = failures + 1
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("failures") end
  io.write(string.format("OCPI_FAILURES %d\\n", total))
end
"""


def _wrk(script: str, base: str, *, connections: int, seconds: int) -> dict[str, Any]:
    path = STATE / "push.lua"
    path.write_text(script)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(path), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    failures = re.search(r"OCPI_FAILURES (\d+)", out)
    assert rps and total and failures, out
    latency = {}
    for pct in ("50", "99"):
        match = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        assert match is not None, out
        latency[f"p{pct}_ms"] = round(
            float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)], 2
        )
    return {
        "pushes_per_s": round(float(rps.group(1))),
        "requests": int(total.group(1)),
        "not_acknowledged": int(failures.group(1)),
        **latency,
    }


async def _probe(
    api: Server,
    token: str,
    evses: list[tuple[str, str, str, str, str]],
    *,
    stop: asyncio.Event,
    max_probes: int,
) -> dict[str, Any]:
    """Push one change at a time and read it back through the public API."""
    acked_to_visible: list[float] = []
    sent_to_visible: list[float] = []
    not_seen = 0
    headers = {"Authorization": _token_header(token), "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        for i in range(max_probes):
            if stop.is_set():
                break
            cc, pid, loc, uid, public_id = evses[i % len(evses)]
            before = (await client.get(f"/v1/locations/{public_id}")).json()
            shown = {e["uid"]: e["status"] for e in before["evses"]}
            status = "AVAILABLE" if shown.get(uid) == "CHARGING" else "CHARGING"
            stamp = datetime.now(UTC) + timedelta(hours=2)  # newer than any bench push
            sent = time.perf_counter()
            answer = await client.patch(
                f"/ocpi/{OCPI_VERSION}/locations/{cc}/{pid}/{loc}/{uid}",
                headers=headers,
                content=json.dumps(
                    {
                        "status": status,
                        "last_updated": stamp.isoformat(timespec="milliseconds").replace(
                            "+00:00", "Z"
                        ),
                    }
                ),
            )
            acked = time.perf_counter()
            assert answer.json()["status_code"] == 1000, answer.text
            while True:
                body = (await client.get(f"/v1/locations/{public_id}")).json()
                shown = {e["uid"]: e["status"] for e in body["evses"]}
                if shown.get(uid) == status:
                    seen = time.perf_counter()
                    acked_to_visible.append(seen - acked)
                    sent_to_visible.append(seen - sent)
                    break
                if time.perf_counter() - acked > 5:
                    not_seen += 1
                    break
            await asyncio.sleep(0.02)
    return {
        "push_to_visible": summary_ms(sent_to_visible),
        "ack_to_visible": summary_ms(acked_to_visible),
        "not_visible_within_5_s": not_seen,
    }


async def run(env: Environment, *, workers: int, seconds: int, connections: int) -> dict[str, Any]:
    """Pushes at ``connections`` and at 256 connections (a hub's many in-flight requests: bigger
    batches per commit), the change-visible probe under the heavier load and at rest, and the
    receiver's floor: the same PATCHes refused at the token check (HTTP, routing, token
    lookup; no body read, no write)."""
    api = env.start("api-push", "wattlas.asgi:app", workers=workers)
    results: dict[str, Any] = {"api_workers": workers}
    try:
        token = await _push_token(env)
        load_evses = _evses(env.database_url, 20_000, 0.1)
        probe_evses = [e for e in _evses(env.database_url, 400, 0.9) if e not in load_evses][:50]
        base_epoch_s = int(time.time()) - 3600
        results[f"c{connections}"] = await asyncio.to_thread(
            _wrk, _lua(load_evses, token, base_epoch_s), api.url,
            connections=connections, seconds=seconds,
        )  # fmt: skip
        stop = asyncio.Event()
        probe = asyncio.create_task(_probe(api, token, probe_evses, stop=stop, max_probes=100_000))
        await asyncio.sleep(0.2)
        results["c256"] = await asyncio.to_thread(
            _wrk, _lua(load_evses, token, base_epoch_s + 600), api.url,
            connections=256, seconds=seconds,
        )  # fmt: skip
        stop.set()
        results["visibility_under_load"] = await probe
        results["visibility_idle"] = await _probe(
            api, token, probe_evses, stop=asyncio.Event(), max_probes=PROBES
        )
        refused = await asyncio.to_thread(
            _wrk, _lua(load_evses, "not-a-token", base_epoch_s), api.url,
            connections=connections, seconds=seconds,
        )  # fmt: skip
        results["floor_refused_at_auth"] = {
            "requests_per_s": refused["pushes_per_s"], "p50_ms": refused["p50_ms"],
            "p99_ms": refused["p99_ms"],
        }  # fmt: skip
    finally:
        api.stop()
    return results
