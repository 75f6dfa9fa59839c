"""A big feed's pages are normalised in a worker process and cross back as MessagePack decoded
into typed records (ingest/sync.py): what arrives must be exactly what normalising in-process
gives, for every pulled module, problems included."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.ocpi.normalise import IngestContext, split_page
from ingest.sync import normalise_objects, normalise_packed, unpack_normalised
from tests.conftest import OCPI_FIXTURES

SPEC = OCPI_FIXTURES.parent / "spec-examples"
CTX = IngestContext(
    network_id=1,
    source="pull",
    ocpi_version="2.2.1",
    country_code="NL",
    party_id="FLA",
    received_at=datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
)
HUB_CLIENT_INFO = [
    b'{"party_id":"EVI","country_code":"PT","role":"CPO","status":"CONNECTED",'
    b'"last_updated":"2026-11-30T08:00:00+01:00"}',
    b'{"party_id":"ZEP","country_code":"PL","role":"CPO","status":"SPACE",'
    b'"last_updated":"2026-11-30T08:00:00Z"}',
    b'{"party_id":"ZEP","role":"CPO"}',
]


BROKEN = [b'{"id":"X1","coordinates":{"latitude":"north","longitude":"4.1"}}', b'{"id":7']


def _objects(path: Path) -> list[bytes]:
    return split_page(path.read_bytes())


@pytest.mark.parametrize(
    ("module", "objects"),
    [
        # Real feeds with broken records among the good ones (rejections and notes).
        ("locations", _objects(OCPI_FIXTURES / "ocpi_2_2_1_locations-punkt.json")),
        ("locations", _objects(OCPI_FIXTURES / "ocpi_2_1_1_locations-fastned.json")),
        ("locations", _objects(OCPI_FIXTURES / "ocpi_2_2_1_locations-ezvolt.json") + BROKEN),
        (
            "tariffs",
            [o for p in sorted(SPEC.glob("tariff_[0-9]*.json")) for o in _objects(p)]
            + [b'{"id":"T1","currency":"EURO","elements":[]}'],
        ),
        ("hubclientinfo", HUB_CLIENT_INFO),
    ],
    ids=["punkt", "fastned", "ezvolt", "tariffs", "hubclientinfo"],
)
def test_the_packed_page_is_the_normalised_page(module: str, objects: list[bytes]) -> None:
    direct = normalise_objects(module, CTX, objects)
    packed = normalise_packed(module, CTX, objects)
    assert isinstance(packed, bytes)
    records, problems = unpack_normalised(module, packed)
    assert (records, problems) == direct
    assert [type(r) for r in records] == [type(r) for r in direct[0]]
    assert records and problems, "each case has records and problems, so both are compared"
    # Instants survive the crossing (MessagePack keeps them in UTC).
    stamps = [(r.last_updated, d.last_updated) for r, d in zip(records, direct[0], strict=True)]
    assert all(a == b and a.utcoffset() is not None for a, b in stamps)
