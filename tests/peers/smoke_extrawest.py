"""Smoke run of the extrawest-ocpi CPO peer (tests/peers/extrawest_cpo.py). Not a pytest test.

    uv venv /tmp/xw --python 3.11
    uv pip install --python /tmp/xw extrawest-ocpi==2025.7.16 uvicorn
    cd /work/main && /tmp/xw/bin/python tests/peers/smoke_extrawest.py [--fixture F] [--limit N]

It starts the peer under uvicorn on a free port (a subprocess of this Python) and, acting as a
minimal platform with plain httpx:
  1. GET versions and version details with the peer's static token, then GET locations page by
     page following Link (and, as a cross-check, by offset), and reports the counts;
  2. probes how the peer answers bad / raw / Base64 tokens;
  3. unless --no-handshake, runs a tiny mock platform (raw ASGI, on another free port) and does
     the handshake both ways: the platform registering with the peer (POST credentials with
     token A), then the peer registering with the platform (/_peer/register), and after each the
     peer's EVSE status PATCH; then the library's own whole-Location PUT, with and without its
     URL-join bug;
  4. starts a second peer with XWPEER_FIX_LINK=0 to show the library's raw Link header.
Exit status 0 when every check passed; the last line reads 'N passed, N failed'.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

REPO = Path(__file__).resolve().parents[2]
STATIC = "smoke-static-token"
TOKEN_A = "smoke-token-a"
MOCK_TOKEN_A = "mock-platform-token-a"
PLATFORM_TOKEN_B = "mock-platform-token-b"  # what the platform gives the peer when it registers

RESULTS: list[tuple[bool, str, str]] = []
PLAIN_HEADERS = {"host", "accept", "accept-encoding", "connection", "user-agent"}


def ocpi_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith(("ocpi-", "x-"))}


def check(ok: bool, what: str, detail: Any = "") -> bool:
    RESULTS.append((bool(ok), what, str(detail)))
    print(f"  [{'ok' if ok else 'FAIL'}] {what}" + (f"  -- {detail}" if detail != "" else ""))
    return bool(ok)


def b64(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def next_link(link: str | None, request_url: str) -> str | None:
    """RFC 8288, tolerant: first <...> whose params contain rel=next (quoted or not)."""
    if not link:
        return None
    for part in link.split(","):
        match = re.match(r"\s*<([^>]*)>\s*;(.*)", part)
        if match and re.search(r'rel\s*=\s*"?next"?', match.group(2)):
            return urljoin(request_url, match.group(1))
    return None


# ---- the peer process --------------------------------------------------------------------------
class Peer:
    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.peers.extrawest_cpo:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env={**os.environ, **env, "XWPEER_PORT": str(port), "XWPEER_HOST": "127.0.0.1"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                r = httpx.get(f"{self.base}/_peer/state", timeout=2)
                if r.status_code == 200:
                    return dict(r.json())
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"peer did not start; log:\n{self.log_path.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# ---- a minimal platform (raw ASGI) -------------------------------------------------------------
class MockPlatform:
    """Plays Wattlas' part: versions + details listing credentials SENDER and locations RECEIVER
    (no trailing slash, like Wattlas), a credentials POST that calls the peer back, and a
    locations receiver that records PUT/PATCH. Records every request with how it was
    authenticated (base64 / raw)."""

    def __init__(self, version: str, port: int) -> None:
        self.version = version
        self.base = f"http://127.0.0.1:{port}"
        self.tokens = {MOCK_TOKEN_A: "A", PLATFORM_TOKEN_B: "B-for-peer"}
        self.requests: list[dict[str, Any]] = []
        self.peer: dict[str, Any] = {}
        self.callbacks: list[dict[str, Any]] = []

    @property
    def versions_url(self) -> str:
        return f"{self.base}/ocpi/versions"

    def credentials(self, token: str) -> dict[str, Any]:
        business = {"name": "Mock platform"}
        if self.version == "2.1.1":
            return {
                "token": token,
                "url": self.versions_url,
                "business_details": business,
                "party_id": "WAT",
                "country_code": "NL",
            }
        return {
            "token": token,
            "url": self.versions_url,
            "roles": [
                {
                    "role": "NSP",
                    "business_details": business,
                    "party_id": "WAT",
                    "country_code": "NL",
                }
            ],
        }

    def authenticate(self, header: str | None) -> tuple[str | None, str | None]:
        if not header or not header.startswith("Token "):
            return None, None
        value = header[6:].strip()
        if value in self.tokens:
            return value, "raw"
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None, None
        return (decoded, "base64") if decoded in self.tokens else (None, None)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        token, encoding = self.authenticate(headers.get("authorization"))
        record = {
            "method": scope["method"],
            "path": scope["path"],
            "headers": {k: v for k, v in headers.items() if k != "authorization"},
            "token": token,
            "encoding": encoding,
            "body": json.loads(body) if body else None,
        }
        self.requests.append(record)
        status, payload = await self.route(scope["method"], scope["path"], token, record["body"])
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})

    @staticmethod
    def ok(data: Any = None) -> tuple[int, dict[str, Any]]:
        out: dict[str, Any] = {"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"}
        if data is not None:
            out["data"] = data
        return 200, out

    async def route(
        self, method: str, path: str, token: str | None, body: Any
    ) -> tuple[int, dict[str, Any]]:
        if token is None:
            return 401, {"status_code": 2000, "status_message": "unknown token"}
        v = self.version
        path = path.rstrip("/")
        if method == "GET" and path == "/ocpi/versions":
            return self.ok([{"version": v, "url": f"{self.base}/ocpi/{v}"}])
        if method == "GET" and path == f"/ocpi/{v}":
            endpoints = [
                {
                    "identifier": "credentials",
                    "role": "SENDER",
                    "url": f"{self.base}/ocpi/{v}/credentials",
                },
                {
                    "identifier": "locations",
                    "role": "RECEIVER",
                    "url": f"{self.base}/ocpi/{v}/locations",
                },
            ]
            if v == "2.1.1":
                for e in endpoints:
                    e.pop("role")
            return self.ok({"version": v, "endpoints": endpoints})
        if method == "POST" and path == f"/ocpi/{v}/credentials":
            if self.tokens.get(token) != "A":
                return 405, {"status_code": 2000, "status_message": "already registered"}
            return await self.accept(body)
        if method in ("PUT", "PATCH") and path.startswith(f"/ocpi/{v}/locations/"):
            return self.ok()
        return 404, {"status_code": 2000, "status_message": f"no route {method} {path}"}

    async def accept(self, body: Any) -> tuple[int, dict[str, Any]]:
        """The peer registers with us: call its versions + details with its token B."""
        peer_token = body["token"]
        auth = (
            f"Token {b64(peer_token)}" if self.version.startswith("2.2") else f"Token {peer_token}"
        )
        refused = 200, {"status_code": 3001, "status_message": "could not use the peer's API"}
        async with httpx.AsyncClient(timeout=10) as http:
            r1 = await http.get(body["url"], headers={"Authorization": auth})
            self.callbacks.append(
                {"url": body["url"], "http_status": r1.status_code, "ocpi": ocpi_code(r1)}
            )
            if ocpi_code(r1) != 1000:
                return refused
            details_url = next(
                (x["url"] for x in r1.json()["data"] if x["version"] == self.version), None
            )
            if details_url is None:
                return refused
            r2 = await http.get(details_url, headers={"Authorization": auth})
            self.callbacks.append(
                {"url": details_url, "http_status": r2.status_code, "ocpi": ocpi_code(r2)}
            )
        if ocpi_code(r2) != 1000:
            return refused
        token_c = "mock-platform-token-c"
        self.tokens[token_c] = "C"
        del self.tokens[MOCK_TOKEN_A]
        self.peer = {"credentials": body, "endpoints": r2.json()["data"]["endpoints"]}
        return self.ok(self.credentials(token_c))


def ocpi_code(response: httpx.Response) -> Any:
    try:
        return response.json().get("status_code")
    except ValueError:
        return None


def start_mock(mock: MockPlatform, port: int) -> Any:
    import uvicorn

    config = uvicorn.Config(mock, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return server


# ---- the steps ---------------------------------------------------------------------------------
def crawl(
    http: httpx.Client, url: str, auth: str, limit: int, follow_link: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    items: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    next_url: str | None = f"{url}?offset=0&limit={limit}"
    seen: set[str] = set()
    offset = 0
    while next_url and len(pages) < 500:
        r = http.get(next_url, headers={"Authorization": auth})
        body = r.json()
        data = body.get("data") or []
        pages.append(
            {
                "url": next_url,
                "http": r.status_code,
                "status_code": body.get("status_code"),
                "n": len(data),
                "total": r.headers.get("x-total-count"),
                "x_limit": r.headers.get("x-limit"),
                "link": r.headers.get("link"),
            }
        )
        if r.status_code != 200 or body.get("status_code") != 1000 or not data:
            break
        items.extend(data)
        if follow_link:
            next_url = next_link(r.headers.get("link"), next_url)
            if next_url in seen:
                break
            if next_url:
                seen.add(next_url)
        else:
            offset += len(data)
            total = int(r.headers.get("x-total-count") or 0)
            next_url = f"{url}?offset={offset}&limit={limit}" if offset < total else None
    return items, pages


def pull(peer: Peer, state: dict[str, Any], version: str, limit: int) -> None:
    auth = f"Token {b64(STATIC)}" if version.startswith("2.2") else f"Token {STATIC}"
    with httpx.Client(timeout=15) as http:
        r = http.get(f"{peer.base}/ocpi/versions", headers={"Authorization": auth})
        versions = r.json().get("data") or []
        check(r.status_code == 200 and bool(versions), "GET versions with token", versions)
        details_url = next((v["url"] for v in versions if v["version"] == version), None)
        check(details_url is not None, f"versions offer {version}", details_url)
        r = http.get(str(details_url), headers={"Authorization": auth})
        details = r.json().get("data") or {}
        endpoints = details.get("endpoints") or []
        check(r.status_code == 200 and bool(endpoints), "GET version details", endpoints)
        roles = {e["identifier"]: e.get("role") for e in endpoints}
        print(f"     endpoint roles: {roles}")
        locations_url = next(e["url"] for e in endpoints if e["identifier"] == "locations")

        expected = state["locations"]
        items, pages = crawl(http, locations_url, auth, limit, follow_link=True)
        ids = [str(x["id"]) for x in items]
        check(
            len(items) == expected and len(set(ids)) == len(ids),
            f"GET locations following Link: {len(items)} locations in {len(pages)} pages "
            f"(peer serves {expected}, X-Total-Count {pages[0]['total'] if pages else None})",
        )
        print(f"     first page headers: Link={pages[0]['link']!r} X-Limit={pages[0]['x_limit']}")
        print(f"     last page: {pages[-1]}")
        by_offset, opages = crawl(http, locations_url, auth, limit, follow_link=False)
        check(
            [x["id"] for x in by_offset] == ids,
            f"GET locations by offset: {len(by_offset)} in {len(opages)} pages, same order",
        )
        evses = sum(len(x.get("evses") or []) for x in items)
        connectors = sum(
            len(e.get("connectors") or []) for x in items for e in x.get("evses") or []
        )
        print(f"     pulled {len(items)} locations, {evses} EVSEs, {connectors} connectors")
        if items:
            sample = items[0]
            print(
                f"     sample: id={sample['id']!r} country_code={sample.get('country_code')!r}"
                f" party_id={sample.get('party_id')!r} last_updated={sample['last_updated']!r}"
            )
            r = http.get(f"{locations_url}{sample['id']}", headers={"Authorization": auth})
            one = r.json().get("data")
            check(
                r.status_code == 200 and bool(one),
                "GET one location by id",
                f"data is a {type(one).__name__} (spec: an object)",
            )
        if version.startswith("2.2") and items:
            r = http.get(
                locations_url,
                params={"date_from": "2100-01-01T00:00:00Z"},
                headers={"Authorization": auth},
            )
            check(
                r.json().get("data") == [] and r.headers.get("x-total-count") == "0",
                "date_from in the future -> no locations",
            )


def probe_auth(peer: Peer, version: str) -> None:
    cases = {
        "no Authorization": {},
        "raw static token": {"Authorization": f"Token {STATIC}"},
        "base64 static token": {"Authorization": f"Token {b64(STATIC)}"},
        "base64 unknown token": {"Authorization": f"Token {b64('nope-nope')}"},
        "raw uuid-like token": {"Authorization": "Token 0b6a5e1c-9f1e-4c39"},
        "raw, bad b64 padding": {"Authorization": "Token abcde"},
    }
    urls = {
        "versions": f"{peer.base}/ocpi/versions",
        "details": f"{peer.base}/ocpi/{version}/details",
        "locations": f"{peer.base}/ocpi/cpo/{version}/locations/",
    }
    with httpx.Client(timeout=10) as http:
        for label, headers in cases.items():
            out = []
            for name, url in urls.items():
                r = http.get(url, headers=headers)
                try:
                    code = r.json().get("status_code", "-")
                except ValueError:
                    code = "?"
                out.append(f"{name}={r.status_code}/{code}")
            print(f"     {label:22s} {' '.join(out)}")


def handshake(peer: Peer, version: str) -> None:
    port = free_port()
    mock = MockPlatform(version, port)
    server = start_mock(mock, port)
    enc = (lambda t: f"Token {b64(t)}") if version.startswith("2.2") else (lambda t: f"Token {t}")
    try:
        with httpx.Client(timeout=20) as http:
            # -- the platform registers with the peer (peer = credentials receiver)
            details = http.get(
                f"{peer.base}/ocpi/{version}/details", headers={"Authorization": enc(TOKEN_A)}
            ).json()["data"]
            cred_url = next(
                e["url"] for e in details["endpoints"] if e["identifier"] == "credentials"
            )
            r = http.post(
                cred_url,
                headers={"Authorization": enc(TOKEN_A)},
                json=mock.credentials(PLATFORM_TOKEN_B),
            )
            body = r.json()
            token_c = (body.get("data") or {}).get("token")
            check(
                r.status_code == 200 and body.get("status_code") == 1000 and bool(token_c),
                "platform -> peer: POST credentials with token A",
                f"HTTP {r.status_code}, answer {body.get('data')}",
            )
            calls = [x for x in mock.requests if x["method"] == "GET"]
            for x in calls:
                print(
                    f"     peer called {x['path']} token={x['token']} encoding={x['encoding']} "
                    f"extra headers={sorted(set(x['headers']) - PLAIN_HEADERS)}"
                )
            check(
                [x["token"] for x in calls] == [PLATFORM_TOKEN_B] * 2,
                "peer fetched our versions + details with the platform's token B",
            )
            r = http.get(f"{cred_url}", headers={"Authorization": enc(token_c or "")})
            check(
                r.json().get("data", {}).get("token") == token_c,
                "GET credentials with token C echoes it",
            )
            r = http.get(
                details_loc(details),
                params={"limit": 1},
                headers={"Authorization": enc(token_c or "")},
            )
            check(r.json().get("status_code") == 1000, "GET locations with token C")
            r = http.get(details_loc(details), headers={"Authorization": enc(TOKEN_A)})
            check(
                r.status_code in (401, 403), f"token A refused on locations (HTTP {r.status_code})"
            )
            r = http.post(
                cred_url, headers={"Authorization": enc(TOKEN_A)}, json=mock.credentials("x")
            )
            check(
                r.status_code in (401, 403, 405), f"token A spent after POST (HTTP {r.status_code})"
            )

            # -- the peer PATCHes an EVSE status to the platform's receiver, with token B
            n = len(mock.requests)
            result = http.post(f"{peer.base}/_peer/patch-evse", json={}).json()
            got = mock.requests[n:]
            check(
                result.get("http_status") == 200 and got and got[0]["method"] == "PATCH",
                "peer PATCHes an EVSE status (platform-initiated registration)",
                f"{result.get('url')} body={result.get('body')}",
            )
            if got:
                x = got[0]
                print(
                    f"     PATCH token={x['token']} encoding={x['encoding']} "
                    f"ocpi headers={ocpi_headers(x['headers'])}"
                )

            # -- the peer registers with the platform (peer = credentials sender)
            n = len(mock.requests)
            result = http.post(
                f"{peer.base}/_peer/register",
                json={"versions_url": mock.versions_url, "token_a": MOCK_TOKEN_A},
            ).json()
            got = mock.requests[n:]
            check("received" in result, "peer -> platform: registration", result.get("error", ""))
            for x in got:
                print(
                    f"     peer sent {x['method']} {x['path']} "
                    f"token={x['token']} encoding={x['encoding']}"
                )
            sent = mock.peer.get("credentials") or {}
            print(f"     peer's credentials body: {json.dumps(sent)}")
            check(
                all(c["ocpi"] == 1000 for c in mock.callbacks),
                "platform could call the peer back with the peer's token B",
                mock.callbacks,
            )
            state = http.get(f"{peer.base}/_peer/state").json()
            check(
                (state.get("platform") or {}).get("token") == "mock-platform-token-c",
                "peer keeps the platform's token C",
            )

            n = len(mock.requests)
            result = http.post(f"{peer.base}/_peer/patch-evse", json={}).json()
            got = mock.requests[n:]
            check(
                bool(got) and got[0]["token"] == "mock-platform-token-c",
                "peer PATCHes with token C after registering",
                f"{result.get('url')} -> HTTP {result.get('http_status')}",
            )

            # -- the library's own PUT push, with and without its URL bug
            for bug in (False, True):
                n = len(mock.requests)
                result = http.post(
                    f"{peer.base}/_peer/put-location", json={"library_url_bug": bug}
                ).json()
                puts = [x for x in mock.requests[n:] if x["method"] == "PUT"]
                answers = [r.get("status_code") for r in result.get("receiver_responses", [])]
                path = puts[0]["path"] if puts else None
                if bug:
                    check(
                        path is not None and "/locations/" not in path,
                        "library push_object as shipped: PUT to a mangled URL",
                        f"{path} -> {answers}",
                    )
                else:
                    headers = puts[0]["headers"] if puts else {}
                    check(
                        bool(puts) and answers == [200],
                        "library push_object (URL join fixed): PUT whole location",
                        f"{path} -> {answers}; routing/x- headers: "
                        f"{sorted(k for k in headers if k.startswith(('ocpi-', 'x-')))}",
                    )
    finally:
        server.should_exit = True


def details_loc(details: dict[str, Any]) -> str:
    return str(next(e["url"] for e in details["endpoints"] if e["identifier"] == "locations"))


def raw_link(env: dict[str, str], version: str, tmp: Path) -> None:
    port = free_port()
    peer = Peer({**env, "XWPEER_FIX_LINK": "0"}, port, tmp / "peer-rawlink.log")
    try:
        peer.wait()
        auth = f"Token {b64(STATIC)}" if version.startswith("2.2") else f"Token {STATIC}"
        with httpx.Client(timeout=10) as http:
            url = f"{peer.base}/ocpi/cpo/{version}/locations/"
            r = http.get(url, params={"limit": 2}, headers={"Authorization": auth})
            link = r.headers.get("link")
            print(f"     library's own Link: {link!r}")
            target = next_link(link, url)
            outcome = "no next link"
            if target:
                try:
                    outcome = (
                        f"HTTP {http.get(target, headers={'Authorization': auth}).status_code}"
                    )
                except httpx.HTTPError as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
            check(True, "raw library Link recorded", f"following it: {outcome}")
    finally:
        peer.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", default="ocpi_2_2_1_locations-ezvolt.json")
    parser.add_argument("--version", default=None, help="2.2.1 or 2.1.1 (default: fixture's)")
    parser.add_argument("--limit", type=int, default=20, help="page size we ask for")
    parser.add_argument("--max-limit", type=int, default=None, help="peer's page-size cap")
    parser.add_argument("--no-handshake", action="store_true")
    parser.add_argument("--no-raw-link", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="xwpeer-smoke-"))
    env = {
        "XWPEER_FIXTURE": args.fixture,
        "XWPEER_TOKEN": STATIC,
        "XWPEER_TOKEN_A": TOKEN_A,
        "XWPEER_LOG_LEVEL": "WARNING",
    }
    if args.version:
        env["XWPEER_VERSION"] = args.version
    if args.max_limit:
        env["XWPEER_MAX_LIMIT"] = str(args.max_limit)
    port = free_port()
    peer = Peer(env, port, tmp / "peer.log")
    started = time.monotonic()
    try:
        state = peer.wait()
        version = state["config"]["version"]
        cleaning = state["cleaning"]
        print(
            f"peer up in {time.monotonic() - started:.1f}s at {peer.base} (OCPI {version}, "
            f"party {state['config']['country_code']}*{state['config']['party_id']}, "
            f"fixture {cleaning['fixture']}), log {peer.log_path}"
        )
        print(
            f"  fixture: {cleaning['total']} locations, {cleaning['valid_as_is']} pass the "
            f"library's schema as they are; after cleaning {cleaning['kept']} served "
            f"({cleaning['changed']} changed, {cleaning['rejected']} rejected), "
            f"{state['evses']} EVSEs"
        )
        for what, count in list(cleaning["fixes"].items())[:12]:
            print(f"     fix {count:5d}  {what}")
        for what, count in cleaning["rejections"].items():
            print(f"     rejected {count:5d}  {what}")
        print("1. pull as a platform (static token)")
        pull(peer, state, version, args.limit)
        print("2. auth probes (HTTP/OCPI status for versions, details, locations)")
        probe_auth(peer, version)
        if not args.no_handshake:
            print("3. handshake both ways + pushes, against a mock platform")
            handshake(peer, version)
        if not args.no_raw_link:
            print("4. the library's unrepaired Link header (second peer, XWPEER_FIX_LINK=0)")
            raw_link(env, version, tmp)
    finally:
        peer.stop()
    failed = [r for r in RESULTS if not r[0]]
    if failed:
        print(f"peer log tail:\n{peer.log_path.read_text()[-3000:]}")
    print(f"{len(RESULTS) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
