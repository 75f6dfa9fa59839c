"""The public API as a new app developer meets it (issue 11), on the bundled real data: search
finds what drivers type, unknown parameters are refused, browsers on other origins may call
the discovery endpoints, answers can be revalidated cheaply, and the OpenAPI document is one a
client generator can use. Each test here failed on the code before issue 11."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.text import looks_like_test

Client = AsyncTestClient[Litestar]
AMSTERDAM = (52.37, 4.89)
MOSCOW = (55.7558, 37.6173)
ISTANBUL = (40.99, 29.03)


async def search(api: Client, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


# ---- search --------------------------------------------------------------------------------------
async def test_an_evse_id_finds_its_location_however_it_is_written(api: Client) -> None:
    for q in ("NL.PGO.ABL00002*1", "NL*PGO*ABL00002*1", "nlpgoabl000021", "NL-PGO-ABL00002-3"):
        results = await search(api, q, limit=5)
        assert [r["name"] for r in results][:1] == ["Novotel Amsterdam City (PowerGo)"], q
    # an evse_id that differs from the uid (Fastned: uid 3100201, evse_id NLFASE3100201)
    for q in ("NLFASE3100201", "NL*FAS*E3100201"):
        results = await search(api, q, limit=5)
        assert results, q
        assert results[0]["network"]["party_id"] == "FAS" or "Fastned" in (
            (results[0]["name"] or "") + (results[0]["operator"] or "")
        ), results[0]


async def test_an_evse_uid_prefix_finds_its_location(api: Client, db: psycopg.Connection) -> None:
    uid = db.execute(
        "SELECT e.uid_raw FROM evses e JOIN locations l ON l.id = e.location_id"
        " WHERE l.visible AND e.visible AND e.evse_id = 'NLFASE3100201'"
    ).fetchone()
    assert uid is not None
    results = await search(api, "NLFASE31002", limit=5)
    names = [r["name"] for r in results]
    assert names and len(set(names)) == len(names), names  # one entry per location


@pytest.mark.parametrize(
    ("q", "near", "expected"),
    [
        ("kadikoy", ISTANBUL, "Kadıköy"),
        ("KADIKÖY", ISTANBUL, "Kadıköy"),
        ("moskva", MOSCOW, "Москва"),
        ("Moskva Zolotaya", MOSCOW, "Золот"),
        ("unterwoessen", None, "Unterwössen"),
        ("unterwossen", None, "Unterwössen"),
        ("roetha", None, "Rötha"),
        ("schoenthal", None, "Schönthal"),
        ("Амстердам", AMSTERDAM, "Amsterdam"),
    ],
)
async def test_search_folds_diacritics_and_transliterates(
    api: Client, q: str, near: tuple[float, float] | None, expected: str
) -> None:
    params: dict[str, Any] = {"limit": 5}
    if near is not None:
        params.update(lat=near[0], lon=near[1])
    results = await search(api, q, **params)
    assert results, q
    texts = [" ".join(str(r[k] or "") for k in ("name", "address", "city")) for r in results]
    assert expected in texts[0], (q, texts)


async def test_search_near_a_point_weighs_distance_and_ranks_tests_last(api: Client) -> None:
    """``fastnet`` (a typo) near Amsterdam: the Fastned sites nearby first, not a "virtual
    location for automated tests" 13,000 km away."""
    results = await search(api, "fastnet", lat=AMSTERDAM[0], lon=AMSTERDAM[1], limit=20)
    assert results[0]["name"] == "Fastned HQ"
    assert all(r["distance_m"] < 100_000 for r in results[:10])
    flags = [looks_like_test(describe(r)) for r in results]
    assert flags == sorted(flags), [r["name"] for r in results]
    # Among the real matches, a closer one with the same score comes first.
    scored = [
        (r["score"], r["distance_m"]) for r, test in zip(results, flags, strict=True) if not test
    ]
    for (s1, d1), (s2, d2) in itertools.pairwise(scored):
        assert not (s1 == s2 and d1 > d2), scored


def describe(result: dict[str, Any]) -> str:
    return " ".join(
        str(result[k] or "") for k in ("name", "address", "postal_code", "city", "operator")
    )


async def test_test_locations_come_after_every_real_match(api: Client) -> None:
    results = await search(api, "kostad", limit=20)
    names = [r["name"] for r in results]
    assert "Kostad OCPP test" in names
    flags = [looks_like_test(describe(r)) for r in results]
    assert flags == sorted(flags), names  # every non-test result before every test one


# ---- unknown parameters ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/v1/locations/nearby", {"lat": 52.37, "lon": 4.89, "foo": "1"}, "foo"),
        ("/v1/locations/nearby", {"lat": 52.37, "lon": 4.89, "radius": "900"}, "radius"),
        ("/v1/locations", {"bbox": "4.8,52.3,5.0,52.4", "conector": "ccs"}, "conector"),
        ("/v1/search", {"q": "fastned", "foo": "1", "bar": "2"}, "bar, foo"),
        ("/v1/clusters", {"bbox": "4.8,52.3,5.0,52.4", "zoom": 10, "x": "1"}, "x"),
        ("/v1/networks", {"limit": "5"}, "limit"),
    ],
)
async def test_unknown_query_parameters_are_a_400_naming_them(
    api: Client, path: str, params: dict[str, Any], named: str
) -> None:
    response = await api.get(path, params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "unknown_parameter"
    assert error["parameter"] == named
    assert named in error["message"]


async def test_an_unknown_format_is_a_400(api: Client) -> None:
    response = await api.get(
        "/v1/locations/nearby", params={"lat": 52.37, "lon": 4.89, "format": "xml"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["parameter"] == "format"


async def test_unknown_parameters_of_the_detail_and_post_are_refused(
    api: Client, db: psycopg.Connection
) -> None:
    public_id = db.execute("SELECT public_id FROM locations WHERE visible LIMIT 1").fetchone()
    assert public_id is not None
    response = await api.get(f"/v1/locations/{public_id[0]}", params={"verbose": "1"})
    assert response.status_code == 400 and response.json()["error"]["parameter"] == "verbose"
    route = {"type": "LineString", "coordinates": [[4.8, 52.3], [4.9, 52.4]]}
    response = await api.post(
        "/v1/locations/along-route", params={"debug": "1"}, json={"route": route}
    )
    assert response.status_code == 400 and response.json()["error"]["parameter"] == "debug"


# ---- CORS ---------------------------------------------------------------------------------------
ORIGIN = "https://planner.example"


async def test_a_preflight_from_another_origin_is_answered_for_discovery(api: Client) -> None:
    response = await api.options(
        "/v1/locations/nearby",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key, if-none-match",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "GET" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "x-api-key" in allowed and "if-none-match" in allowed and "authorization" in allowed
    assert "access-control-allow-credentials" not in response.headers
    post = await api.options(
        "/v1/locations/along-route",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert post.status_code == 204 and "POST" in post.headers["access-control-allow-methods"]


async def test_cors_headers_on_answers_and_errors_of_discovery(api: Client) -> None:
    ok = await api.get(
        "/v1/locations/nearby", params={"lat": 52.37, "lon": 4.89}, headers={"Origin": ORIGIN}
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "*"
    exposed = ok.headers["access-control-expose-headers"].lower()
    for name in ("etag", "ratelimit", "ratelimit-policy", "retry-after", "x-request-id"):
        assert name in exposed
    bad = await api.get(
        "/v1/locations/nearby", params={"lat": 99, "lon": 0}, headers={"Origin": ORIGIN}
    )
    assert bad.status_code == 400 and bad.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/ocpi/versions", "GET"),
        ("/ocpi/2.2.1/locations/NL/ABC/1", "PUT"),
        ("/health", "GET"),
        ("/v1/locations/nearby", "DELETE"),
        ("/v1/locations/nearby", "POST"),
    ],
)
async def test_no_cors_outside_public_discovery(api: Client, path: str, method: str) -> None:
    response = await api.options(
        path, headers={"Origin": ORIGIN, "Access-Control-Request-Method": method}
    )
    assert "access-control-allow-origin" not in response.headers
    plain = await api.get("/health", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in plain.headers


# ---- caching ------------------------------------------------------------------------------------
async def test_detail_etag_comes_from_the_data_not_the_clock(
    api: Client, db: psycopg.Connection
) -> None:
    public_id = db.execute(
        "SELECT public_id FROM locations WHERE visible AND name = 'Fastned HQ'"
    ).fetchone()
    assert public_id is not None
    path = f"/v1/locations/{public_id[0]}"
    first = await api.get(path)
    await asyncio.sleep(1.1)  # every status_age_s has grown by a second
    second = await api.get(path)
    assert first.headers["etag"] == second.headers["etag"]
    assert first.json()["evses"][0]["status_age_s"] < second.json()["evses"][0]["status_age_s"]
    again = await api.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert "max-age" in again.headers["cache-control"]
    # Another representation, another tag.
    geojson = await api.get(path, params={"format": "geojson"})
    assert geojson.headers["etag"] != first.headers["etag"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/locations/nearby", {"lat": 52.37, "lon": 4.89, "radius_m": 20000}),
        ("/v1/locations/nearby", {"lat": 52.37, "lon": 4.89, "connector": "ccs"}),
        ("/v1/locations", {"bbox": "4.7,52.2,5.1,52.5"}),
        ("/v1/search", {"q": "fastned", "lat": 52.37, "lon": 4.89}),
        ("/v1/clusters", {"bbox": "-10,35,40,70", "zoom": 4}),
        ("/v1/networks", {}),
    ],
)
async def test_lists_are_revalidated_with_if_none_match(
    api: Client, path: str, params: dict[str, Any]
) -> None:
    first = await api.get(path, params=params)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert re.fullmatch(r'W/"[0-9a-f]{32}"', etag), etag
    await asyncio.sleep(1.1)  # generated_at moves on
    second = await api.get(path, params=params)
    assert second.headers["etag"] == etag
    again = await api.get(path, params=params, headers={"If-None-Match": f'"x", {etag}'})
    assert again.status_code == 304 and again.content == b""
    cache = first.headers["cache-control"]
    assert cache.startswith("public") and "stale-while-revalidate" in cache
    other = await api.get(path, params=params, headers={"If-None-Match": 'W/"other"'})
    assert other.status_code == 200


# ---- the OpenAPI document ------------------------------------------------------------------------
OPERATIONS = {
    ("get", "/v1/locations/nearby"): "nearbyLocations",
    ("get", "/v1/locations"): "viewportLocations",
    ("post", "/v1/locations/along-route"): "locationsAlongRoute",
    ("get", "/v1/locations/{location_id}"): "getLocation",
    ("get", "/v1/search"): "searchLocations",
    ("get", "/v1/clusters"): "getClusters",
    ("get", "/v1/networks"): "listNetworks",
    ("get", "/v1/stream"): "streamAvailability",
    ("post", "/v1/price"): "priceSession",
}


async def test_openapi_operations_are_readable_tagged_and_have_examples(api: Client) -> None:
    document = (await api.get("/schema/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    for (method, path), operation_id in OPERATIONS.items():
        operation = document["paths"][path][method]
        assert operation["operationId"] == operation_id
        assert operation["tags"], operation_id
        success = operation["responses"]["200"]["content"]
        media = next(iter(success.values()))
        assert media.get("example") is not None or media.get("examples"), operation_id


async def test_openapi_types_every_answer_and_error(api: Client) -> None:
    document = (await api.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    detail = document["paths"]["/v1/locations/{location_id}"]["get"]["responses"]
    assert detail["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LocationDetail"
    }
    assert "evses" in schemas["LocationDetail"]["properties"]
    assert "404" in detail and "304" in detail
    for (method, path), operation_id in OPERATIONS.items():
        responses = document["paths"][path][method]["responses"]
        errors = [code for code in responses if code[0] in "45"]
        assert {"400", "401", "429", "500", "503"} <= set(errors), (operation_id, errors)
        for code in errors:
            content = responses[code]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, code
    detail_fields = {"message", "code", "parameter", "request_id"}
    assert set(schemas["ErrorDetail"]["properties"]) == detail_fields
    too_many = document["paths"]["/v1/locations/nearby"]["get"]["responses"]["429"]
    assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= set(too_many["headers"])


async def test_openapi_documents_the_stream_as_server_sent_events(api: Client) -> None:
    document = (await api.get("/schema/openapi.json")).json()
    content = document["paths"]["/v1/stream"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/event-stream"]


async def test_openapi_route_accepts_every_documented_shape(api: Client) -> None:
    document = (await api.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    route = schemas["AlongRouteRequest"]["properties"]["route"]
    refs = {option["$ref"].rsplit("/", 1)[1] for option in route["anyOf"]}
    assert refs == {"LineString", "Feature", "FeatureCollection", "EncodedPolyline"}
    assert "detour_m" not in str(document)
