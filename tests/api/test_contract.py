"""The public API's contract (issue 11), checked from the outside: a real server under granian on
the bundled real data, its OpenAPI document read from ``/schema/openapi.json`` as a client
developer reads it.

- a typed client generated from the document (openapi-python-client, from PyPI) calls nearby,
  detail and along-route, and its typed answers are exactly the raw HTTP answers;
- schemathesis generates valid and invalid input for every public operation: no 5xx, every
  status, header and body as documented;
- the README's "The API" section: every example runs with the status it shows, every field,
  body shape, endpoint and parameter it names exists in the document.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from app.access.keys import key_hash, new_key, shown
from app.api import examples
from app.settings import Settings
from app.store import Store
from app.store import api_keys as key_store
from tests.conftest import ROOT, ServerProcess, execute, settings_env, start_granian

SCHEMA_PATH = "/schema/openapi.json"
ALONG_ROUTE = "/v1/locations/along-route"
FASTNED_HQ = (52.349291, 4.92143)
# The README's and the document's example route: Amsterdam (east) to Utrecht.
ROUTE = [[4.93, 52.36], [5.12, 52.09]]
ROUTE_POLYLINE = "_qq~Ho{a]nvs@obd@"  # the same two points, Google's algorithm, precision 5
CORRIDOR_M = 5000
ROUTE_NAMES = [  # within CORRIDOR_M of ROUTE, in route order
    "Fastned HQ",
    "Novotel Amsterdam City (PowerGo)",
    "Mercure Hotel Amsterdam City (PowerGo)",
    "Jumbo 3477 Loenen aan de Vecht (PowerGo)",
    "Jumbo 5111 Nieuwegein WC Galecop (PowerGo)",
    "PLUS Servicekantoor Archimedeslaan (PowerGo)",
]


@pytest.fixture(scope="module")
def server(
    fixture_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The service under granian against the database with every bundled network loaded (the
    suite's ``api_server`` serves the empty per-test database)."""
    process = start_granian(
        "wattlas.asgi:app",
        settings_env(fixture_settings),
        tmp_path_factory.mktemp("contract"),
        name="contract-api",
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def document(server: ServerProcess) -> dict[str, Any]:
    response = httpx.get(server.url + SCHEMA_PATH, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    found: dict[str, Any] = response.json()
    return found


def raw_get(server: ServerProcess, path: str, **params: Any) -> dict[str, Any]:
    response = httpx.get(server.url + path, params=params, timeout=10)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def raw_post(server: ServerProcess, path: str, body: Any) -> dict[str, Any]:
    response = httpx.post(server.url + path, json=body, timeout=10)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


# ---- a client generated from the document ------------------------------------------------------
@pytest.fixture(scope="module")
def client_package(
    document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """``wattlas_client``: what ``openapi-python-client generate`` makes of our document, imported
    from a temporary directory. ``--fail-on-warning``: a schema it cannot type is a failure."""
    where = tmp_path_factory.mktemp("generated")
    spec = where / "openapi.json"
    spec.write_text(json.dumps(document))
    config = where / "config.json"
    # No ruff run over the generated code. The snapshot's line formats are bytes to the
    # generator (it types JSON and text, not line-delimited JSON): a client reads them as such.
    config.write_text(
        json.dumps(
            {
                "post_hooks": [],
                "content_type_overrides": {
                    "application/x-ndjson": "application/octet-stream",
                    "application/geo+json-seq": "application/octet-stream",
                },
            }
        )
    )
    generated = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(where / "wattlas_client"),
            "--meta",
            "none",
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module("wattlas_client")
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m.split(".")[0] == "wattlas_client"]:
            del sys.modules[name]


@pytest.fixture(scope="module")
async def api_key(fixture_db: str) -> AsyncIterator[str]:
    """A real key: the generated client types every keyed operation with an
    ``AuthenticatedClient`` (it reads ``security`` and ignores its anonymous ``{}`` option)."""
    secret = new_key()
    async with Store(fixture_db, max_size=1, name="test") as store:
        await key_store.create(
            store,
            name="contract-client",
            key_sha256=key_hash(secret),
            key_prefix=shown(secret),
            rate_per_min=10_000,
            daily_quota=100_000,
        )
    try:
        yield secret
    finally:
        await execute(fixture_db, "DELETE FROM api_keys WHERE name = 'contract-client'")


def _module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def _ids(results: list[Any]) -> list[str]:
    return [r["id"] if isinstance(r, dict) else r.id for r in results]


async def test_a_generated_client_calls_nearby_detail_and_along_route(
    server: ServerProcess, client_package: ModuleType, api_key: str
) -> None:
    models = _module(client_package, "models")
    discovery = _module(client_package, "api.discovery")
    nearby_op = _module(client_package, "api.discovery.nearby_locations")
    detail_op = _module(client_package, "api.discovery.get_location")
    route_op = _module(client_package, "api.discovery.locations_along_route")
    assert {"nearby_locations", "get_location", "locations_along_route"} <= set(
        p.stem for p in Path(discovery.__file__).parent.glob("*.py")
    )
    client = client_package.AuthenticatedClient(
        base_url=server.url, token=api_key, raise_on_unexpected_status=True
    )
    with client:
        # nearby: typed, and exactly what the raw API answers
        near = {"lat": FASTNED_HQ[0], "lon": FASTNED_HQ[1], "radius_m": 2000, "limit": 10}
        nearby = nearby_op.sync(client=client, **near)
        raw = raw_get(server, "/v1/locations/nearby", **near)
        assert isinstance(nearby, models.Results)
        assert nearby.count == raw["count"] == len(nearby.results) == 2
        assert _ids(nearby.results) == _ids(raw["results"])
        assert [(r.name, r.distance_m) for r in nearby.results] == [
            ("Fastned HQ", 0.0),
            ("Mercure Hotel Amsterdam City (PowerGo)", 1621.0),
        ]
        first = nearby.results[0]
        assert isinstance(first, models.LocationSummary)
        assert isinstance(first.availability, models.Availability)
        raw_availability = raw["results"][0]["availability"]
        assert (first.availability.total, first.availability.unknown) == (2, 2)
        assert {k: v for k, v in first.availability.to_dict().items() if k != "updated_at"} == {
            k: v for k, v in raw_availability.items() if k != "updated_at"
        }
        assert first.availability.updated_at == datetime.fromisoformat(
            raw_availability["updated_at"]
        )
        assert isinstance(nearby.generated_at, datetime)
        assert [g.to_dict() for g in first.connector_groups] == raw["results"][0][
            "connector_groups"
        ]

        # detail of that location: every EVSE and connector typed
        detail = detail_op.sync(client=client, location_id=first.id)
        raw_detail = raw_get(server, f"/v1/locations/{first.id}")
        assert isinstance(detail, models.LocationDetail)
        assert detail.id == first.id and detail.name == "Fastned HQ"
        assert [e.uid for e in detail.evses] == [e["uid"] for e in raw_detail["evses"]]
        assert len(detail.evses) == raw_detail["availability"]["total"] == 2
        assert [e.status for e in detail.evses] == [e["status"] for e in raw_detail["evses"]]
        assert all(isinstance(e, models.Evse) for e in detail.evses)
        assert all(isinstance(e.status_updated_at, datetime) for e in detail.evses)
        connectors = [c for e in detail.evses for c in e.connectors]
        assert len(connectors) == 2
        assert [(c.id, c.standard, c.max_power_kw) for c in connectors] == [
            (c["id"], c["standard"], c["max_power_kw"])
            for e in raw_detail["evses"]
            for c in e["connectors"]
        ]
        assert isinstance(detail.source, models.SourceInfo)
        assert detail.source.network == raw_detail["source"]["network"]

        # an unknown id: a typed 404 in the documented error shape
        missing = detail_op.sync_detailed(client=client, location_id="no-such-location")
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.ErrorBody)
        assert (missing.parsed.error.code, missing.parsed.error.parameter) == (
            "not_found",
            "location_id",
        )

        # along a route, in every shape the body takes
        line = models.LineString(type_=models.LineStringType.LINESTRING, coordinates=ROUTE)
        raw_route = raw_post(
            server,
            "/v1/locations/along-route",
            {"route": {"type": "LineString", "coordinates": ROUTE}, "corridor_m": CORRIDOR_M},
        )
        assert [r["name"] for r in raw_route["results"]] == ROUTE_NAMES
        shapes = [
            line,
            models.Feature(type_=models.FeatureType.FEATURE, geometry=line),
            models.FeatureCollection(
                type_=models.FeatureCollectionType.FEATURECOLLECTION,
                features=[models.Feature(type_=models.FeatureType.FEATURE, geometry=line)],
            ),
            models.EncodedPolyline(encoded_polyline=ROUTE_POLYLINE),
        ]
        for shape in shapes:
            body = models.AlongRouteRequest(route=shape, corridor_m=CORRIDOR_M)
            along = route_op.sync(client=client, body=body)
            assert isinstance(along, models.Results), type(shape)
            assert along.count == raw_route["count"] == len(ROUTE_NAMES)
            assert _ids(along.results) == _ids(raw_route["results"])
            offsets = [r.route_offset_m for r in along.results]
            assert offsets == [r["route_offset_m"] for r in raw_route["results"]]
            assert offsets == sorted(offsets)


async def test_the_documents_request_examples_are_answered(
    server: ServerProcess, document: dict[str, Any]
) -> None:
    """The along-route body examples of the document, pasted: the three GeoJSON shapes of one
    line find the same stations; the same line as a polyline, filtered (CCS, 50 kW), four."""
    media = document["paths"]["/v1/locations/along-route"]["post"]["requestBody"]["content"]
    given = media["application/json"]["examples"]
    bodies = {name: example["value"] for name, example in given.items()}
    assert set(bodies) == {"LineString", "Feature", "FeatureCollection", "EncodedPolyline"}
    answers = {name: raw_post(server, ALONG_ROUTE, body) for name, body in bodies.items()}
    names = [r["name"] for r in answers["LineString"]["results"]]
    assert names == ROUTE_NAMES
    for shape in ("Feature", "FeatureCollection"):
        assert _ids(answers[shape]["results"]) == _ids(answers["LineString"]["results"])
    filtered = [r["name"] for r in answers["EncodedPolyline"]["results"]]
    assert filtered == [n for n in ROUTE_NAMES if not n.startswith(("Mercure", "PLUS"))]


# ---- schemathesis against the live server -------------------------------------------------------
# The public operations it fuzzes: every keyed /v1 operation of the document but the stream (an
# answer that never ends) — test_every_public_operation_is_fuzzed keeps this list complete.
FUZZED = (
    "nearbyLocations",
    "viewportLocations",
    "locationsAlongRoute",
    "getLocation",
    "searchLocations",
    "getClusters",
    "listNetworks",
    "priceSession",
    "listChanges",
)
# The stream never ends; a snapshot streams every location for each generated example (its
# parameters are checked in tests/api/test_sync.py).
NOT_FUZZED = {"streamAvailability", "exportLocations"}
# Operations that take no query or body: nothing to make invalid, so no negative run
# (test_every_public_operation_is_fuzzed checks they really take none).
NO_INPUT = {"listNetworks"}
RUNS = [
    (operation_id, mode)
    for operation_id in FUZZED
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not (mode is GenerationMode.NEGATIVE and operation_id in NO_INPUT)
]
# Inputs that reach the bundled data (generated coordinates mostly fall where there is none):
# fixed for half of the valid cases, everything else still generated.
SEEDED: dict[str, dict[str, Any]] = {
    "nearbyLocations": {"query": {"lat": FASTNED_HQ[0], "lon": FASTNED_HQ[1]}},
    "viewportLocations": {"query": {"bbox": "4.7,52.2,5.1,52.5"}},
    "searchLocations": {"query": {"q": "fastned"}},
    "getClusters": {"query": {"bbox": "-10,35,40,70", "zoom": 5}},
    "locationsAlongRoute": {
        "body": {"route": {"type": "LineString", "coordinates": ROUTE}, "corridor_m": CORRIDOR_M}
    },
    "priceSession": {"body": examples.builtins(examples.PRICE_BODIES["a driver's plan"])},
}
MAX_EXAMPLES = 25
# A query string past 4,096 bytes is refused before routing (app.limits): a 414 is a refusal.
REFUSALS = ["400", "401", "404", "405", "413", "414", "429"]
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            # Off, for a documented reason: the API refuses with a 400 what JSON Schema cannot
            # say of a query string — a bbox of four ordered numbers, lat only with lon,
            # min_power_kw ≤ max_power_kw, CC*PID networks, known connector names, a cursor
            # this API issued, at least two letters in q. Schema-valid input may be refused;
            # the opposite (invalid input accepted) is checked by negative_data_rejection.
            "positive_data_acceptance": {"enabled": False},
            "negative_data_rejection": {"expected-statuses": REFUSALS},
        }
    }
)


@pytest.fixture(scope="module")
def contract_schema(server: ServerProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(server.url + SCHEMA_PATH, config=CONFIG)


@pytest.fixture(scope="module")
def location_ids(server: ServerProcess) -> list[str]:
    """One real location per network (the detail of each is checked against the schema)."""
    ids: list[str] = []
    for network in raw_get(server, "/v1/networks"):
        world = {"bbox": "-180,-90,180,90", "network": network["id"], "limit": 1}
        found = raw_get(server, "/v1/locations", **world)
        ids += _ids(found["results"])
    assert len(ids) >= 15
    return ids


def test_every_public_operation_is_fuzzed(document: dict[str, Any]) -> None:
    keyed = {
        operation["operationId"]
        for path, item in document["paths"].items()
        for operation in item.values()
        if path.startswith("/v1/") and operation.get("security")
    }
    assert keyed == set(FUZZED) | NOT_FUZZED
    takes_input = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        and (
            "requestBody" in operation
            or any(p.get("in") == "query" for p in operation.get("parameters", []))
        )
    }
    assert set(FUZZED) - takes_input == NO_INPUT


@pytest.mark.parametrize(("operation_id", "mode"), RUNS)
def test_schemathesis_finds_no_5xx_and_no_answer_off_the_schema(
    contract_schema: schemathesis.BaseSchema,
    server: ServerProcess,
    location_ids: list[str],
    operation_id: str,
    mode: GenerationMode,
) -> None:
    operation = contract_schema.find_operation_by_id(operation_id)
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE and operation_id in SEEDED:
        strategy = st.one_of(strategy, operation.as_strategy(**SEEDED[operation_id]))
    if mode is GenerationMode.POSITIVE and operation_id == "getLocation":
        real = st.sampled_from(location_ids).flatmap(
            lambda i: operation.as_strategy(path_parameters={"location_id": i})
        )
        strategy = st.one_of(strategy, real)

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=timedelta(seconds=10),
        # Generated query strings are large and often filtered; that is the point here.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: schemathesis.Case) -> None:
        # Every default check: not_a_server_error, status codes, content types, headers and
        # bodies against the document, negative_data_rejection (see CONFIG).
        response = case.call_and_validate(base_url=server.url, timeout=10)
        statuses.add(response.status_code)

    statuses: set[int] = set()
    run()
    if mode is GenerationMode.POSITIVE:  # real answers were checked, not only refusals
        assert 200 in statuses, statuses
    assert all(status < 500 for status in statuses), statuses


def test_schemathesis_examples_and_coverage_phases_pass(
    server: ServerProcess, tmp_path: Path
) -> None:
    """The CLI's deterministic phases (the pytest plugin of schemathesis 4.32 does not run under
    pytest 9): every example of the document, then the coverage phase — boundary values, each
    parameter and body field of the wrong type, missing or repeated, one at a time (~1,200
    requests)."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[checks]\n"  # the same two settings as CONFIG, for the same reasons
        "positive_data_acceptance.enabled = false\n"
        f"negative_data_rejection.expected-statuses = {json.dumps(REFUSALS)}\n"
    )
    operations = "|".join(FUZZED)
    run = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
            "run", server.url + SCHEMA_PATH,
            "--phases", "examples,coverage",
            "--include-operation-id-regex", f"^({operations})$",
            "--generation-deterministic", "--workers", "1", "--request-timeout", "10",
            "--max-response-time", "10", "--report-dir", str(tmp_path / "report"),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    assert f"Operations:       {len(FUZZED)} selected" in run.stdout, run.stdout
    assert "✅ Examples" in run.stdout and "✅ Coverage" in run.stdout, run.stdout


@pytest.mark.parametrize(
    ("method", "path", "body", "parameter"),
    [
        # the README body: the unknown field is named (it was Litestar's "data")
        ("POST", "/v1/locations/along-route", {"polyline": ROUTE_POLYLINE}, "polyline"),
        # a body field named like a dependency of the route was a 500
        (
            "POST",
            "/v1/locations/along-route",
            {"route": {"type": "LineString", "coordinates": ROUTE}, "filters": 3},
            "filters",
        ),
        ("POST", "/v1/locations/along-route", [ROUTE], "body"),
        # the text "null" was read as no format at all
        ("GET", "/v1/locations/nearby?lat=52.35&lon=4.92&format=null", None, "format"),
        (
            "POST",
            "/v1/locations/along-route?format=null",
            {"route": {"type": "LineString", "coordinates": ROUTE}},
            "format",
        ),
    ],
)
def test_what_schemathesis_found_is_a_400_naming_the_field(
    server: ServerProcess,
    contract_schema: schemathesis.BaseSchema,
    method: str,
    path: str,
    body: Any,
    parameter: str,
) -> None:
    response = httpx.request(method, server.url + path, json=body, timeout=10)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["parameter"]) == ("invalid_parameter", parameter)
    operation = contract_schema.find_operation_by_path(method, urlsplit(path).path)
    assert operation is not None
    operation.validate_response(response)


# ---- the README's API section -------------------------------------------------------------------
README = ROOT / "README.md"
README_BASE = "http://127.0.0.1:8000"  # where `make run` serves, as the README's examples say
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def api_section() -> str:
    text = README.read_text()
    match = re.search(r"^## The API\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match is not None, "README.md has no '## The API' section"
    return match.group(1)


@dataclass(frozen=True)
class Example:
    command: str
    method: str
    url: str
    headers: dict[str, str]
    body: str | None
    status: int


def curl_examples(section: str) -> list[Example]:
    """Every ``$ curl …`` of the section's console blocks, with the status line printed below it
    (``HTTP/1.1 200 OK``)."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", section, flags=re.S):
        lines = block.replace("\\\n", " ").splitlines()
        for index, line in enumerate(lines):
            if not line.startswith("$ curl "):
                continue
            status_line = lines[index + 1] if index + 1 < len(lines) else ""
            status = re.match(r"HTTP/[\d.]+ (\d{3})\b", status_line)
            assert status is not None, f"no status line under: {line}"
            found.append(_parse_curl(line[2:], int(status.group(1))))
    return found


def _parse_curl(command: str, status: int) -> Example:
    words = shlex.split(command)[1:]
    method, url, body = None, None, None
    headers: dict[str, str] = {}
    while words:
        word = words.pop(0)
        if word in ("-i", "-s", "-sS", "--include", "--silent"):
            continue
        if word in ("-X", "--request"):
            method = words.pop(0)
        elif word in ("-H", "--header"):
            name, _, value = words.pop(0).partition(":")
            headers[name.strip()] = value.strip()
        elif word in ("-d", "--data", "--data-raw"):
            body = words.pop(0)
        elif word.startswith("-"):
            raise AssertionError(f"the README test does not know curl's {word}: {command}")
        else:
            url = word
    assert url is not None and url.startswith(README_BASE), command
    return Example(command, method or ("POST" if body else "GET"), url, headers, body, status)


def test_every_example_of_the_readme_runs_with_its_status(
    server: ServerProcess, contract_schema: schemathesis.BaseSchema
) -> None:
    examples_ = curl_examples(api_section())
    assert len(examples_) >= 6, "the API section lost its examples"
    statuses = set()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for example in examples_:
            path = example.url.removeprefix(README_BASE)
            response = client.request(
                example.method, path, headers=example.headers, content=example.body
            )
            assert response.status_code == example.status, (example.command, response.text)
            operation = contract_schema.find_operation_by_path(example.method, urlsplit(path).path)
            assert operation is not None, example.command
            operation.validate_response(response)  # the answer is the documented one
            statuses.add(example.status)
    assert {200, 400, 404} <= statuses  # answers and both kinds of error are shown


# A name in backticks that reads as a field or parameter: `distance_m`, `open_now=true`,
# `code: unavailable`.
_NAME = re.compile(r"^\??([a-z][a-z0-9_]*)(?:=\S*|: \S+)?$")


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas a schema can be (following $ref, anyOf/oneOf and arrays)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return _resolve(document, document["components"]["schemas"][name])
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return [s for b in branches for s in _resolve(document, b)]
    if schema.get("type") == "array" and "items" in schema:
        return _resolve(document, schema["items"])
    return [schema] if schema.get("type") == "object" or "properties" in schema else []


def _fits(
    document: dict[str, Any], shape: dict[str, Any], schema: dict[str, Any], *, nested: bool = False
) -> bool:
    """Whether a documented body shape (names, nested) is one the schema has. Inside a body, a
    free-form object (the along-route ``filters``) takes any names; a whole body must be one
    whose properties are documented."""
    for candidate in _resolve(document, schema):
        properties = candidate.get("properties")
        if properties is None:
            if nested and candidate.get("additionalProperties") is not False:
                return True
            continue
        if all(
            name in properties
            and (sub is None or _fits(document, sub, properties[name], nested=True))
            for name, sub in shape.items()
        ):
            return True
    return False


def _shape(text: str) -> dict[str, Any]:
    """``{"error": {"code", "message"}, "route" | "polyline"}`` → the names it shows, nested
    (values that are not objects are skipped)."""
    text = text.replace("\\|", "|")  # a | inside a Markdown table is written \|
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,|]|[^\s{}\[\]:,|"]+', text)
    position = 0

    def value() -> dict[str, Any] | None:
        nonlocal position
        if tokens[position] == "{":
            return obj()
        depth = 0  # skip a value: up to the next , or } at this depth
        while position < len(tokens):
            token = tokens[position]
            if depth == 0 and token in (",", "}"):
                break
            depth += token in ("[", "{")
            depth -= token in ("]", "}")
            position += 1
        return None

    def obj() -> dict[str, Any]:
        nonlocal position
        out: dict[str, Any] = {}
        position += 1  # {
        while tokens[position] != "}":
            token = tokens[position]
            position += 1
            if token in (",", "|"):
                continue
            assert token.startswith('"'), f"not a name in {text!r}: {token}"
            name = json.loads(token)
            out[name] = None
            if tokens[position] == ":":
                position += 1
                out[name] = value()
        position += 1  # }
        return out

    return obj()


def _documented_names(document: dict[str, Any]) -> tuple[set[str], set[str]]:
    properties = {
        name
        for schema in document["components"]["schemas"].values()
        for name in schema.get("properties", {})
    }
    parameters = {
        parameter["name"]
        for item in document["paths"].values()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
    }
    return properties, parameters


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The document's operation for a path as the README writes it (``{id}`` for any
    parameter name)."""
    pattern = re.sub(r"\\\{[^}]*\\\}", r"\\{[^}]+\\}", re.escape(path))
    for documented, item in document["paths"].items():
        if re.fullmatch(pattern, documented) and method.lower() in item:
            operation: dict[str, Any] = item[method.lower()]
            return operation
    return None


def _body_schemas(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every schema an answer or a request body of the document has."""
    out = []
    for item in document["paths"].values():
        for operation in item.values():
            bodies = [r.get("content", {}) for r in operation.get("responses", {}).values()]
            bodies.append(operation.get("requestBody", {}).get("content", {}))
            out += [m["schema"] for content in bodies for m in content.values() if "schema" in m]
    return out + list(document["components"]["schemas"].values())


def test_every_name_the_readme_documents_is_in_the_document(document: dict[str, Any]) -> None:
    section = api_section()
    prose = re.sub(r"```.*?```", "", section, flags=re.S)  # the examples are run, not read
    spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", prose)]
    # The names the README shows being refused (`parameter: radius`): not in the document.
    refused = {m.group(1) for x in spans if (m := re.fullmatch(r"parameter: ([a-z_]+)", x))}
    assert refused and not refused & set().union(*_documented_names(document)), refused
    properties, parameters = _documented_names(document)
    schemas = _body_schemas(document)
    checked = {"endpoint": 0, "shape": 0, "name": 0}
    wrong = []
    for span in spans:
        method, _, target = span.partition(" ")
        if method in HTTP_METHODS:  # `GET /v1/locations/nearby?lat&lon&radius_m&limit`
            for one in target.split(", "):  # `GET /v1/routes`, `/v1/routes/{name}`
                path, _, query = one.partition("?")
                operation = _operation(document, method, path)
                if operation is None:
                    wrong.append(f"no operation {method} {path}")
                    continue
                taken = {p["name"] for p in operation.get("parameters", [])}
                names = {pair[0] for pair in parse_qsl(query, keep_blank_values=True)}
                wrong += [f"{method} {path} takes no {n}" for n in sorted(names - taken)]
            checked["endpoint"] += 1
        elif span.startswith("{"):  # a body shape: `{"error": {"code", "message"}}`
            shape = _shape(span)
            if not any(_fits(document, shape, schema) for schema in schemas):
                wrong.append(f"no answer or body has the shape {span}")
            checked["shape"] += 1
        elif (name := _NAME.match(span)) is not None:  # a field or a parameter
            if name.group(1) not in properties | parameters | refused:
                wrong.append(f"no field or parameter {name.group(1)} ({span})")
            checked["name"] += 1
    # The names of the bodies the examples send with success, too (the 400s send wrong ones).
    for example in curl_examples(section):
        if example.body is not None and example.status < 400:
            shape = _shape(json.dumps(json.loads(example.body)))
            if not any(_fits(document, shape, schema) for schema in schemas):
                wrong.append(f"no request body has the shape {example.body}")
    assert wrong == [], wrong
    assert checked["endpoint"] >= 8 and checked["shape"] >= 3 and checked["name"] >= 15, checked
