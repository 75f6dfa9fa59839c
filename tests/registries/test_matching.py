"""The merge scorer and the sites it builds (app.domain.matching), on hand-made records."""

from __future__ import annotations

from datetime import UTC, datetime

from app.domain import matching
from app.domain.matching import SiteRecord

AT = datetime(2025, 1, 1, tzinfo=UTC)
# Metres → degrees of latitude near Berlin.
M = 1 / 111_195


def _record(pk: int, network: int, lat_m: float, *, live: bool = False, **kw: object) -> SiteRecord:
    fields: dict[str, object] = {
        "name": None, "operator": None, "address": "Boyenstr. 23", "postal_code": "10115",
        "evse_count": 2, "standards": frozenset({"IEC_62196_T2"}), "max_power_kw": 22.0,
    }  # fmt: skip
    fields.update(kw)
    return SiteRecord(
        pk=pk, network_id=network, source=f"s{network}", live=live, record_id=str(pk),
        lat=52.5 + lat_m * M, lon=13.4, updated_at=AT, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def _matches(records: list[SiteRecord]) -> list[matching.Match]:
    return [
        matching.score(a, b)
        for i, a in enumerate(records)
        for b in records[i + 1 :]
        if matching.may_merge(a, b)
        and matching.distance_m(a.lat, a.lon, b.lat, b.lon) <= matching.MAX_DISTANCE_M
    ]


def test_a_record_is_never_merged_through_a_third() -> None:
    # L ~ O (70 m) and O ~ B (70 m), but L and B are 140 m apart: not the same site.
    live = _record(1, 1, 0, live=True)
    ocm = _record(2, 2, 70)
    bna = _record(3, 3, 140)
    matches = _matches([live, ocm, bna])
    assert {frozenset((m.a.pk, m.b.pk)) for m in matches if m.same_site} == {
        frozenset((1, 2)), frozenset((2, 3))
    }  # fmt: skip
    sites = matching.clusters([live, ocm, bna], matches)
    assert [[r.pk for r in site] for site in sites] == [[1, 2]]  # the best pair; B stays alone


def test_three_sources_of_one_site_become_one_with_the_live_record_at_its_head() -> None:
    records = [_record(1, 1, 0), _record(2, 2, 10, live=True), _record(3, 3, 20)]
    sites = matching.clusters(records, _matches(records))
    assert [[r.pk for r in site] for site in sites] == [[2, 3, 1]] or [
        [r.pk for r in site] for site in sites
    ] == [[2, 1, 3]]
    assert sites[0][0].live


def test_two_records_of_one_network_are_never_one_site() -> None:
    records = [_record(1, 1, 0), _record(2, 1, 5)]
    assert matching.clusters(records, _matches(records)) == []


def test_nothing_but_distance_never_merges() -> None:
    bare = {
        "address": None, "postal_code": None, "standards": frozenset(), "max_power_kw": None,
        "details_known": False,
    }  # fmt: skip
    a, b = _record(1, 1, 0, **bare), _record(2, 2, 0, **bare)
    match = matching.score(a, b)
    assert match.score == 2.0 and not match.same_site


def test_a_us_zip_plus_four_is_its_zip() -> None:
    a = _record(1, 1, 0, postal_code="10115-1234")
    b = _record(2, 2, 0, postal_code="10115")
    evidence = {e.name: e.value for e in matching.score(a, b).evidence}
    assert evidence["postcode"] == 1.0
