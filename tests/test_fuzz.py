"""A bounded fuzz run (issue 9): the OCPI decoders and the discovery parameters, fed what
hypothesis makes of real inputs (derandomised, a fixed budget: tests/conftest.py). Asserted: no
5xx and no exception, every refusal names what is wrong, and no good record is lost."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.settings import Settings
from ingest.ocpi.normalise import IngestContext, Normaliser
from tests.conftest import OCPI_FIXTURES, make_app

EXAMPLES = 150
_FEED = json.loads((OCPI_FIXTURES / "ocpi_2_2_1_locations-ezvolt.json").read_text())["data"]
_GOOD = _FEED[:5]

# Values real feeds (and attackers) send where another type belongs.
odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("\x00\x01\u202e\ufeffé€𝄞 "), max_size=8),
    st.sampled_from(["inf", "-inf", "nan", "1e400", "-1e400", "1e30", "0x10", " 12 ", "12,5"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _set(document: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        document = document[key]
    document[path[-1]] = value


@st.composite
def broken_locations(draw: Any) -> dict[str, Any]:
    """A real location with up to four of its values replaced by odd ones."""
    location = json.loads(json.dumps(draw(st.sampled_from(_FEED))))
    paths = _paths(location)
    for _ in range(draw(st.integers(1, 4))):
        _set(location, draw(st.sampled_from(paths)), draw(odd_values))
        paths = _paths(location)
    return location


def _encode(location: dict[str, Any]) -> bytes:
    return json.dumps(location, allow_nan=True).encode()


@hypothesis.settings(max_examples=EXAMPLES)
@hypothesis.given(st.lists(broken_locations(), min_size=1, max_size=4), st.randoms())
def test_the_decoder_never_fails_and_never_loses_the_good_ones(
    broken: list[dict[str, Any]], rng: Any
) -> None:
    page = [*(_encode(b) for b in broken), *(json.dumps(g).encode() for g in _GOOD)]
    rng.shuffle(page)
    normaliser = Normaliser(
        IngestContext(network_id=1, source="pull", ocpi_version="2.2.1"), shapes=None
    )
    accepted, problems = normaliser.locations(page)
    kept = {a.ocpi_id_raw for a in accepted}
    # Every good location of the page is kept, whatever its neighbours are.
    assert {g["id"] for g in _GOOD} <= kept
    # Every object is accepted or rejected with a reason; a reason names what is wrong.
    rejected = [p for p in problems if p.severity == "rejected" and p.object_kind == "location"]
    assert len(accepted) + len(rejected) == len(page)
    assert all(p.reason and len(p.reason) < 2000 for p in problems)


@pytest.fixture(scope="module")
async def api_client(base_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=make_app(base_settings)) as client:
        yield client


PARAMETERS = (
    "lat", "lon", "radius_m", "limit", "bbox", "cursor", "q", "connector", "min_power_kw",
    "max_power_kw", "power_type", "available", "max_status_age_s", "capability", "network",
    "exclude_network", "operator", "parking_type", "facility", "open_now", "format",
)  # fmt: skip
parameter_values = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["52.37", "4.89", "5000", "-0", "1e309", "nan", "ccs,type2", "NL*FLA", ""]),
)


@hypothesis.settings(max_examples=EXAMPLES)
@hypothesis.given(
    st.sampled_from(["/v1/locations/nearby", "/v1/locations", "/v1/search", "/v1/clusters"]),
    st.dictionaries(st.sampled_from(PARAMETERS), parameter_values, max_size=6),
)
async def test_discovery_parameters_never_give_a_5xx(
    api_client: AsyncTestClient[Litestar], path: str, params: dict[str, str]
) -> None:
    answer = await api_client.get(path, params=params)
    assert answer.status_code < 500, (path, params, answer.text[:300])
    if answer.status_code >= 400:
        error = answer.json()["error"]
        assert error["message"] and error["code"], (path, params, error)
        if answer.status_code == 400:
            assert error["parameter"], (path, params, error)
