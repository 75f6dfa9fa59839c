"""The sandbox: real OCPI CPO peers over HTTP, for the demo and the tests.

Each sandbox network (``/{network}/ocpi/...``) serves its bundled real locations through the
Sender interface with pagination (offset/limit, ``Link``, ``X-Total-Count``, ``X-Limit``,
``date_from``/``date_to``), performs the credentials handshake in both directions, and pushes
realistic status changes to the receiver it registered with. ``/_control`` lets a test inject
faults (HTTP 5xx, 429 with Retry-After, OCPI 3xxx, truncated bodies) and trigger pushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
from litestar import Litestar, Request, get, post, put
from litestar.params import FromPath
from litestar.response import Response

from app.domain.timestamps import parse_timestamp
from app.live.tasks import cancel_and_wait
from app.logs import configure_logging, get_logger
from devtools.sandbox.network import (
    DatasetPages,
    SandboxNetwork,
    dataset_network,
    load_networks,
    restore_state,
    save_state,
)
from ingest.credentials import endpoint_url, parse_credentials, parse_endpoints, pick_version
from ingest.ocpi import transport

log = get_logger(__name__)
AnyRequest = Request[Any, Any, Any]


@dataclass
class Fault:
    kind: str  # http | ocpi | truncate | rate_limit
    http_status: int = 500
    ocpi_status: int = 3000
    retry_after_s: float = 1.0


@dataclass
class PushStats:
    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    last_error: str | None = None


@dataclass
class Sandbox:
    base_url: str
    networks: dict[str, SandboxNetwork]
    state_file: Path | None
    push_rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))  # noqa: S311 - simulation
    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    # by network, or by "network/module" for one module only
    fail_from_page: dict[str, int] = field(default_factory=dict)
    # The last requests each network received (method, path, OCPI headers), for tests.
    requests: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)
    stats: PushStats = field(default_factory=PushStats)
    http: httpx.AsyncClient | None = None

    def save(self) -> None:
        if self.state_file is not None:
            save_state(self.state_file, self.networks)

    def network_url(self, name: FromPath[str]) -> str:
        return f"{self.base_url}/{name}/ocpi"


def _sandbox(request: AnyRequest) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def _answer(
    data: Any = None,
    status_code: int = 1000,
    message: str | None = None,
    http_status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    body = transport.envelope_encoder.encode(transport.envelope(data, status_code, message))
    return Response(
        body, status_code=http_status, media_type="application/json", headers=headers or {}
    )


def _network(request: AnyRequest, name: str, *, registration: bool = False) -> SandboxNetwork:
    network = _sandbox(request).networks.get(name)
    if network is None:
        raise _Stop(_answer(None, 2000, f"no sandbox network {name}", 404))
    authorization = request.headers.get("authorization")
    tokens = set(network.credentials.issued)
    if registration:
        tokens.add(network.credentials.token_a)
    if not any(c in tokens for c in transport.token_candidates(authorization)):
        raise _Stop(_answer(None, 2000, "unknown token", 401))
    seen = _sandbox(request).requests.setdefault(name, deque(maxlen=200))
    seen.append(
        {
            "method": request.method,
            "path": request.url.path,
            "headers": {k: v for k, v in request.headers.items() if k.lower().startswith("ocpi-")},
        }
    )
    return network


class _Stop(Exception):
    def __init__(self, response: Response[bytes]) -> None:
        self.response = response


def _fault(request: AnyRequest, name: str) -> Response[bytes] | None:
    queue = _sandbox(request).faults.get(name)
    if not queue:
        return None
    fault = queue.popleft()
    if fault.kind == "rate_limit":
        return _answer(None, 2000, "slow down", 429, {"Retry-After": f"{fault.retry_after_s:g}"})
    if fault.kind == "ocpi":
        return _answer(None, fault.ocpi_status, "temporary failure")
    if fault.kind == "truncate":
        return Response(
            b'{"status_code": 1000, "data": [{"id": "cut', media_type="application/json"
        )
    return Response(
        b"<html>bad gateway</html>", status_code=fault.http_status, media_type="text/html"
    )


# ---- versions and credentials ------------------------------------------------------------------
@get("/{name:str}/ocpi/versions")
async def versions(request: AnyRequest, name: FromPath[str]) -> Response[bytes]:
    try:
        network = _network(request, name, registration=True)
    except _Stop as stop:
        return stop.response
    base = _sandbox(request).network_url(name)
    return _answer([{"version": v, "url": f"{base}/{v}"} for v in network.versions])


@get("/{name:str}/ocpi/{version:str}")
async def details(
    request: AnyRequest, name: FromPath[str], version: FromPath[str]
) -> Response[bytes]:
    try:
        network = _network(request, name, registration=True)
    except _Stop as stop:
        return stop.response
    base = f"{_sandbox(request).network_url(name)}/{version}"
    endpoints = []
    modules = [
        ("credentials", network.credentials_role),
        ("locations", "SENDER"),
        ("tariffs", "SENDER"),
    ]
    if network.clients and version != "2.1.1":
        modules.append(("hubclientinfo", "SENDER"))
    for module, role in modules:
        endpoint = {"identifier": module, "url": f"{base}/{module}"}
        if version != "2.1.1":
            endpoint["role"] = role
        endpoints.append(endpoint)
    return _answer({"version": version, "endpoints": endpoints})


def _our_credentials(
    sandbox: Sandbox, network: SandboxNetwork, token: str, version: str
) -> dict[str, Any]:
    url = f"{sandbox.network_url(network.name)}/versions"
    if version == "2.1.1":
        cc, pid, business = network.parties[0]
        return {
            "token": token,
            "url": url,
            "business_details": {"name": business},
            "country_code": cc,
            "party_id": pid,
        }
    # A 2.2.1 hub names only itself, with role HUB (its parties are in its HubClientInfo).
    roles = [("HUB", *network.hub_role)] if network.hub_role else [
        ("CPO", cc, pid, business) for cc, pid, business in network.parties
    ]  # fmt: skip
    credentials: dict[str, Any] = {
        "token": token,
        "url": url,
        "roles": [
            {
                "role": role,
                "business_details": {"name": business},
                "country_code": cc,
                "party_id": pid,
            }
            for role, cc, pid, business in roles
        ],
    }
    if version == "2.3.0" and network.hub_party:
        credentials["hub_party_id"] = network.hub_party  # roles: every party it reaches
    return credentials


@post("/{name:str}/ocpi/{version:str}/credentials", status_code=200)
async def post_credentials(
    request: AnyRequest, name: FromPath[str], version: FromPath[str]
) -> Response[bytes]:
    """Wattlas registers with us (it initiated): fetch its endpoints with its token, answer C."""
    try:
        network = _network(request, name, registration=True)
    except _Stop as stop:
        return stop.response
    sandbox = _sandbox(request)
    try:
        peer = parse_credentials(msgspec.json.decode(await request.body()))
    except (ValueError, msgspec.DecodeError) as exc:
        return _answer(None, 2001, str(exc))
    try:
        endpoints = await _discover(sandbox, peer.token, peer.versions_url, version)
    except (httpx.HTTPError, ValueError, RuntimeError) as exc:
        return _answer(None, 3001, f"could not use your API: {exc}")
    token_c = secrets.token_urlsafe(24)
    network.credentials.issued = [token_c]
    network.credentials.outbound_token = peer.token
    network.credentials.outbound_version = version
    network.credentials.outbound_endpoints = endpoints
    network.credentials.outbound_party = _party_of(peer.parties)
    sandbox.save()
    log.info("sandbox.registered", network=name, initiator="wattlas", version=version)
    return _answer(_our_credentials(sandbox, network, token_c, version))


async def _discover(
    sandbox: Sandbox, token: str, versions_url: str, version: str | None
) -> list[dict[str, Any]]:
    assert sandbox.http is not None
    headers = {
        "Authorization": transport.authorization_header(
            token, transport.default_auth_encoding(version or "2.2.1")
        )
    }
    response = await sandbox.http.get(versions_url, headers=headers)
    offered = transport.decode_envelope(response.content).decoded_data()
    if version is None:
        version, details_url = pick_version(offered)
    else:
        urls = {v.get("version"): v.get("url") for v in offered or [] if isinstance(v, dict)}
        found = urls.get(version)
        if not isinstance(found, str):
            raise ValueError(f"version {version} not offered")
        details_url = found
    response = await sandbox.http.get(details_url, headers=headers)
    return parse_endpoints(transport.decode_envelope(response.content).decoded_data())


@post("/_control/{name:str}/register", status_code=200)
async def register_with_wattlas(request: AnyRequest, name: FromPath[str]) -> dict[str, Any]:
    """We initiate: Wattlas invited us (``wattlas networks invite``) with a versions URL and A."""
    sandbox = _sandbox(request)
    network = sandbox.networks[name]
    body = msgspec.json.decode(await request.body())
    token_a, versions_url = body["token"], body["versions_url"]
    assert sandbox.http is not None
    headers = {"Authorization": transport.authorization_header(token_a, "base64")}
    response = await sandbox.http.get(versions_url, headers=headers)
    offered = transport.decode_envelope(response.content).decoded_data()
    urls = {v.get("version"): v.get("url") for v in offered or [] if isinstance(v, dict)}
    # The highest of *our* versions that Wattlas offers.
    version = next((v for v in network.versions if v in urls), None)
    if version is None:
        return {"ok": False, "message": "no mutual version"}
    details_url = str(urls[version])
    if version == "2.1.1":
        headers = {"Authorization": transport.authorization_header(token_a, "raw")}
    response = await sandbox.http.get(details_url, headers=headers)
    endpoints = parse_endpoints(transport.decode_envelope(response.content).decoded_data())
    credentials_url = endpoint_url(endpoints, "credentials")
    token_b = secrets.token_urlsafe(24)
    network.credentials.issued = [token_b]
    response = await sandbox.http.post(
        credentials_url or "",
        headers=headers,
        json=_our_credentials(sandbox, network, token_b, version),
    )
    env = transport.decode_envelope(response.content)
    if env.status_code != 1000:
        return {"ok": False, "status_code": env.status_code, "message": env.status_message}
    theirs = parse_credentials(env.decoded_data())
    network.credentials.outbound_token = theirs.token
    network.credentials.outbound_version = version
    network.credentials.outbound_endpoints = endpoints
    network.credentials.outbound_party = _party_of(theirs.parties)
    sandbox.save()
    return {"ok": True, "version": version}


def _party_of(parties: list[Any]) -> tuple[str, str] | None:
    return (parties[0].country_code, parties[0].party_id) if parties else None


@get("/_control/{name:str}/credentials")
async def control_credentials(request: AnyRequest, name: FromPath[str]) -> dict[str, Any]:
    """For the demo runner: the token A Wattlas registers with, and the versions URL."""
    sandbox = _sandbox(request)
    network = sandbox.networks[name]
    return {
        "versions_url": f"{sandbox.network_url(name)}/versions",
        "token_a": network.credentials.token_a,
        "registered": network.credentials.outbound_token is not None,
        "version": network.version,
        "parties": [f"{cc}*{pid}" for cc, pid, _ in network.parties],
    }


@get("/_control/networks")
async def control_networks(request: AnyRequest) -> list[str]:
    return sorted(_sandbox(request).networks)


# ---- the Sender interface ----------------------------------------------------------------------
def _filtered(
    objects: list[dict[str, Any]], date_from: str | None, date_to: str | None
) -> list[dict[str, Any]]:
    start = parse_timestamp(date_from) if date_from else None
    end = parse_timestamp(date_to) if date_to else None
    if start is None and end is None:
        return objects
    out = []
    for obj in objects:
        stamp = parse_timestamp(obj.get("last_updated") or obj.get("lastUpdated"))
        if stamp is None:
            out.append(obj)  # no timestamp: always "changed"
            continue
        if start is not None and stamp < start:
            continue
        if end is not None and stamp >= end:
            continue
        out.append(obj)
    return out


def _paginated(
    request: AnyRequest,
    name: str,
    objects: list[dict[str, Any]],
    page_size: int,
    module: str = "locations",
) -> Response[bytes]:
    query = request.query_params
    offset = max(0, int(query.get("offset", "0") or 0))
    limit = min(page_size, max(1, int(query.get("limit", str(page_size)) or page_size)))
    selected = _filtered(objects, query.get("date_from"), query.get("date_to"))
    page = selected[offset : offset + limit]
    failing = _sandbox(request).fail_from_page
    failing_from = failing.get(f"{name}/{module}", failing.get(name))
    if failing_from is not None and offset // page_size + 1 >= failing_from:
        return Response(b"upstream unavailable", status_code=503, media_type="text/plain")
    headers = {"X-Total-Count": str(len(selected)), "X-Limit": str(page_size)}
    network = _sandbox(request).networks[name]
    if offset + limit < len(selected) and network.link_mode != "none":
        params = {"offset": str(offset + limit), "limit": str(limit)}
        for key in ("date_from", "date_to"):
            if query.get(key):
                params[key] = query[key]
        base = str(request.url).split("?", 1)[0]
        if network.link_mode == "loop":
            params["offset"] = str(offset)
        elif network.link_mode == "broken":
            # As a real library builds it (an enum's repr in the path, https hard-coded).
            host = request.url.netloc
            base = f"https://{host}/ocpi/cpo/VersionNumber.v_2_2_1/ModuleID.{module}/"
        headers["Link"] = f'<{base}?{urlencode(params)}>; rel="next"'
    return _answer(page, headers=headers)


@get(["/{name:str}/ocpi/{version:str}/locations"])
async def list_locations(
    request: AnyRequest, name: FromPath[str], version: FromPath[str]
) -> Response[bytes]:
    try:
        network = _network(request, name)
    except _Stop as stop:
        return stop.response
    fault = _fault(request, name)
    if fault is not None:
        return fault
    if network.dataset is not None:
        return _dataset_page(request, network.dataset)
    return _paginated(request, name, network.locations, network.page_size)


def _dataset_page(request: AnyRequest, pages: DatasetPages) -> Response[bytes]:
    """A page of the generated dataset, its file bytes spliced into the envelope as they are."""
    offset = max(0, int(request.query_params.get("offset", "0") or 0))
    index = offset // pages.page_size
    headers = {"X-Total-Count": str(pages.total), "X-Limit": str(pages.page_size)}
    if index >= pages.pages:
        data = b"[]"
    else:
        data = pages.page(index)
        if index + 1 < pages.pages:
            next_url = (
                f"{str(request.url).split('?', 1)[0]}?"
                f"{urlencode({'offset': (index + 1) * pages.page_size})}"
            )
            headers["Link"] = f'<{next_url}>; rel="next"'
    prefix = (
        b'{"status_code":1000,"timestamp":"' + transport.format_timestamp().encode() + b'","data":'
    )
    return Response(prefix + data + b"}", media_type="application/json", headers=headers)


@get(["/{name:str}/ocpi/{version:str}/locations/{location_id:str}"])
async def one_location(
    request: AnyRequest, name: FromPath[str], version: FromPath[str], location_id: FromPath[str]
) -> Response[bytes]:
    try:
        network = _network(request, name)
    except _Stop as stop:
        return stop.response
    loc = network.location(location_id)
    if loc is None:
        return _answer(None, 2003, "unknown location", 404)
    return _answer(loc)


@get(["/{name:str}/ocpi/{version:str}/tariffs"])
async def list_tariffs(
    request: AnyRequest, name: FromPath[str], version: FromPath[str]
) -> Response[bytes]:
    try:
        network = _network(request, name)
    except _Stop as stop:
        return stop.response
    fault = _fault(request, name)
    if fault is not None:
        return fault
    return _paginated(request, name, network.tariffs, network.page_size, "tariffs")


@get(["/{name:str}/ocpi/{version:str}/hubclientinfo"])
async def list_client_info(
    request: AnyRequest, name: FromPath[str], version: FromPath[str]
) -> Response[bytes]:
    """A hub's Sender interface of HubClientInfo: the parties it routes (ocpi.md §2.6)."""
    try:
        network = _network(request, name)
    except _Stop as stop:
        return stop.response
    if not network.clients:
        return _answer(None, 2000, "no hubclientinfo here", 404)
    return _paginated(request, name, network.clients, network.page_size, "hubclientinfo")


# ---- test and demo controls --------------------------------------------------------------------
@post("/_control/{name:str}/faults", status_code=200)
async def add_faults(request: AnyRequest, name: FromPath[str]) -> dict[str, int]:
    body = msgspec.json.decode(await request.body())
    queue = _sandbox(request).faults.setdefault(name, deque())
    for item in body.get("faults", []):
        queue.append(Fault(**item))
    return {"queued": len(queue)}


@put("/_control/{name:str}/fail-from-page", status_code=200)
async def fail_from_page(request: AnyRequest, name: FromPath[str]) -> dict[str, int | None]:
    """Every page from this one on answers 503, until cleared with ``{"page": null}``; with
    ``"module"`` (locations, tariffs, hubclientinfo), only that module's pages."""
    body = msgspec.json.decode(await request.body())
    page = body.get("page")
    key = f"{name}/{body['module']}" if body.get("module") else name
    sandbox = _sandbox(request)
    if page is None:
        sandbox.fail_from_page.pop(key, None)
    else:
        sandbox.fail_from_page[key] = int(page)
    return {"page": page}


@put("/_control/{name:str}/peer-quirks", status_code=200)
async def peer_quirks(request: AnyRequest, name: FromPath[str]) -> dict[str, str]:
    """Behave as some real peers do: ``link_mode`` (ok | broken | loop | none),
    ``credentials_role`` (SENDER | RECEIVER)."""
    body = msgspec.json.decode(await request.body())
    network = _sandbox(request).networks[name]
    network.link_mode = str(body.get("link_mode", network.link_mode))
    network.credentials_role = str(body.get("credentials_role", network.credentials_role))
    return {"link_mode": network.link_mode, "credentials_role": network.credentials_role}


@get("/_control/{name:str}/requests")
async def seen_requests(request: AnyRequest, name: FromPath[str]) -> list[dict[str, Any]]:
    """The last requests this network received, oldest first, with their OCPI-* headers."""
    return list(_sandbox(request).requests.get(name, ()))


@post("/_control/{name:str}/client-info", status_code=200)
async def push_client_info(request: AnyRequest, name: FromPath[str]) -> dict[str, Any]:
    """A hub tells Wattlas about one of its parties: PUT ClientInfo to Wattlas' hubclientinfo
    receiver (the body is the ClientInfo; it is also what the hub serves from now on)."""
    info = msgspec.json.decode(await request.body())
    sandbox = _sandbox(request)
    network = sandbox.networks[name]
    key = (info["country_code"], info["party_id"])
    network.clients = [c for c in network.clients if (c["country_code"], c["party_id"]) != key] + [
        info
    ]
    creds = network.credentials
    url = endpoint_url(creds.outbound_endpoints, "hubclientinfo", "RECEIVER")
    if not creds.outbound_token or url is None:
        return {"ok": False, "error": "not registered, or no hubclientinfo receiver"}
    assert sandbox.http is not None
    response = await sandbox.http.put(
        f"{url.rstrip('/')}/{key[0]}/{key[1]}",
        json=info,
        headers={
            "Authorization": transport.authorization_header(
                creds.outbound_token, transport.default_auth_encoding(creds.outbound_version)
            )
        },
    )
    env = transport.decode_envelope(response.content)
    return {"ok": env.status_code == 1000, "status_code": env.status_code,
            "message": env.status_message}  # fmt: skip


@post("/_control/{name:str}/drop", status_code=200)
async def drop_location(request: AnyRequest, name: FromPath[str]) -> dict[str, int]:
    """Stop listing a location (as networks do instead of sending REMOVED; ocpi.md P11)."""
    location_id = msgspec.json.decode(await request.body())["id"]
    network = _sandbox(request).networks[name]
    network.locations = [
        loc
        for loc in network.locations
        if str(loc.get("id", "")).upper() != str(location_id).upper()
    ]
    return {"locations": len(network.locations)}


@post("/_control/{name:str}/push", status_code=200)
async def push_now(request: AnyRequest, name: FromPath[str]) -> list[dict[str, Any]]:
    """Push ``count`` status changes now with ``concurrency`` in flight; returns each one with
    the HTTP and OCPI status it got (what was acknowledged)."""
    body = msgspec.json.decode(await request.body())
    sandbox = _sandbox(request)
    network = sandbox.networks[name]
    count, concurrency = int(body.get("count", 1)), int(body.get("concurrency", 1))
    results: list[dict[str, Any]] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore:
            results.append(await push_change(sandbox, network))

    await asyncio.gather(*(one() for _ in range(count)))
    return results


@get("/_control/stats")
async def stats(request: AnyRequest) -> dict[str, Any]:
    s = _sandbox(request).stats
    return {
        "sent": s.sent,
        "acknowledged": s.acknowledged,
        "failed": s.failed,
        "last_error": s.last_error,
    }


@put("/_control/push-rate", status_code=200)
async def set_push_rate(request: AnyRequest) -> dict[str, float]:
    sandbox = _sandbox(request)
    sandbox.push_rate = float(msgspec.json.decode(await request.body())["rate"])
    return {"rate": sandbox.push_rate}


# ---- pushing -----------------------------------------------------------------------------------
async def push_change(sandbox: Sandbox, network: SandboxNetwork) -> dict[str, Any]:
    """One realistic status change, PATCHed to the receiver this network registered with."""
    creds = network.credentials
    url = endpoint_url(creds.outbound_endpoints, "locations", "RECEIVER")
    if not creds.outbound_token or url is None:
        return {"ok": False, "error": "not registered"}
    change = network.change_status(sandbox.rng)
    if change is None:
        return {"ok": False, "error": "no EVSE to change"}
    loc, evse, status = change
    cc, pid = network.owner_of(loc)
    body: dict[str, Any] = {"status": status}
    if creds.outbound_version != "2.1.1":
        body["last_updated"] = evse["last_updated"]
    target = f"{url.rstrip('/')}/{cc}/{pid}/{loc['id']}/{evse['uid']}"
    headers = {
        "Authorization": transport.authorization_header(
            creds.outbound_token, transport.default_auth_encoding(creds.outbound_version)
        ),
        "X-Request-ID": secrets.token_hex(8),
    }
    if creds.outbound_version != "2.1.1":
        # From the party whose data it is (a hub forwards its CPO's push), to Wattlas.
        to = tuple(creds.outbound_party) if creds.outbound_party else None
        headers.update(transport.routing_headers((cc, pid), to))  # type: ignore[arg-type]
    sandbox.stats.sent += 1
    outcome: dict[str, Any] = {
        "location_id": loc["id"],
        "evse_uid": evse["uid"],
        "country_code": cc,
        "party_id": pid,
        "status": status,
        "last_updated": evse["last_updated"],
    }
    assert sandbox.http is not None
    try:
        response = await sandbox.http.patch(target, json=body, headers=headers)
        env = transport.decode_envelope(response.content)
        outcome.update(
            ok=env.status_code == 1000,
            http_status=response.status_code,
            status_code=env.status_code,
        )
        if env.status_code == 1000:
            sandbox.stats.acknowledged += 1
        else:
            sandbox.stats.failed += 1
            sandbox.stats.last_error = env.status_message
    except (httpx.HTTPError, msgspec.DecodeError) as exc:
        sandbox.stats.failed += 1
        sandbox.stats.last_error = f"{type(exc).__name__}: {exc}"
        outcome.update(ok=False, error=sandbox.stats.last_error)
    return outcome


async def _pusher(sandbox: Sandbox) -> None:
    """Pushes at ``push_rate`` changes per second across the registered networks."""
    while True:
        if sandbox.push_rate <= 0:
            await asyncio.sleep(0.5)
            continue
        registered = [n for n in sandbox.networks.values() if n.credentials.outbound_token]
        if not registered:
            await asyncio.sleep(0.5)
            continue
        weights = [max(1, len(n.locations)) for n in registered]
        network = sandbox.rng.choices(registered, weights=weights)[0]
        with contextlib.suppress(Exception):
            await push_change(sandbox, network)
        await asyncio.sleep(1.0 / sandbox.push_rate)


def create_sandbox_app(
    base_url: str,
    *,
    networks: list[str] | None = None,
    state_file: Path | None = None,
    push_rate: float = 0.0,
    page_size: int = 100,
    log_level: str = "INFO",
    log_format: str = "json",
    dataset: Path | None = None,
    demo_tariffs: bool = False,
) -> Litestar:
    configure_logging(log_level, log_format)
    served = load_networks(networks, page_size=page_size, demo_tariffs=demo_tariffs)
    if dataset is not None:
        served["bench"] = dataset_network(dataset)
    sandbox = Sandbox(base_url.rstrip("/"), served, state_file, push_rate)
    if state_file is not None:
        restore_state(state_file, sandbox.networks)
        sandbox.save()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        sandbox.http = httpx.AsyncClient(timeout=10)
        task = asyncio.create_task(_pusher(sandbox))
        try:
            yield
        finally:
            await cancel_and_wait([task])
            await sandbox.http.aclose()

    app = Litestar(
        route_handlers=[
            versions,
            details,
            post_credentials,
            register_with_wattlas,
            control_credentials,
            control_networks,
            list_locations,
            one_location,
            list_tariffs,
            list_client_info,
            add_faults,
            fail_from_page,
            peer_quirks,
            seen_requests,
            push_client_info,
            drop_location,
            push_now,
            stats,
            set_push_rate,
            health,
        ],
        lifespan=[lifespan],
        openapi_config=None,
        logging_config=None,
    )
    app.state.sandbox = sandbox
    return app


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok", "at": datetime.now(UTC).isoformat()}
