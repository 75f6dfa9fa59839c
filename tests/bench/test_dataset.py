"""The benchmark dataset generator: exact counts, determinism, and output the normaliser takes
without a single problem. No database: these tests request no database fixture."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from devtools.bench.__main__ import main as bench_cli
from devtools.bench.dataset import (
    MAX_CLONE_OFFSET_M,
    MIN_CLONE_OFFSET_M,
    DatasetInfo,
    generate,
    page_path,
    read_manifest,
    source_points,
)
from ingest.ocpi.geocheck import haversine_km
from ingest.ocpi.normalise import IngestContext, Normaliser, split_page

LOCATIONS = 2_000
EVSES = 6_543
PAGE_SIZE = 300
EXPECTED_STATUS_SHARES = {
    "AVAILABLE": 0.60,
    "CHARGING": 0.25,
    "OUTOFORDER": 0.05,
    "INOPERATIVE": 0.04,
    "BLOCKED": 0.03,
    "RESERVED": 0.01,
    "UNKNOWN": 0.02,
}


@dataclass(frozen=True)
class Dataset:
    out_dir: Path
    info: DatasetInfo

    def page_bytes(self) -> list[bytes]:
        return [page_path(self.out_dir, n).read_bytes() for n in range(self.info.pages)]

    def locations(self) -> list[dict[str, Any]]:
        return [loc for page in self.page_bytes() for loc in msgspec.json.decode(page)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    out_dir = tmp_path_factory.mktemp("bench-dataset")
    info = generate(out_dir, locations=LOCATIONS, evses=EVSES, seed=42, page_size=PAGE_SIZE)
    return Dataset(out_dir, info)


def _normalise(page: bytes) -> tuple[int, list[str], list[str]]:
    """(accepted, rejection reasons, notes) from the project's own normaliser."""
    accepted, problems = Normaliser(IngestContext(network_id=1, source="bench")).locations(
        split_page(page)
    )
    rejected = [f"{p.object_key}: {p.reason}" for p in problems if p.severity == "rejected"]
    notes = [f"{p.object_key}: {p.reason}" for p in problems if p.severity != "rejected"]
    return len(accepted), rejected, notes


def test_counts_hit_the_targets_exactly(dataset: Dataset) -> None:
    locations = dataset.locations()
    evses = [evse for loc in locations for evse in loc["evses"]]
    connectors = [c for evse in evses for c in evse["connectors"]]
    assert (len(locations), len(evses)) == (LOCATIONS, EVSES)
    assert dataset.info.locations == LOCATIONS
    assert dataset.info.evses == EVSES
    assert dataset.info.connectors == len(connectors)
    assert read_manifest(dataset.out_dir) == dataset.info


def test_pages_are_full_but_the_last(dataset: Dataset) -> None:
    sizes = [len(msgspec.json.decode(page)) for page in dataset.page_bytes()]
    assert sizes == [300, 300, 300, 300, 300, 300, 200]
    assert dataset.info.pages == 7
    assert sorted(p.name for p in dataset.out_dir.glob("page-*.json")) == [
        f"page-{n:05d}.json" for n in range(7)
    ]


def test_ids_and_uids_are_unique(dataset: Dataset) -> None:
    locations = dataset.locations()
    ids = [loc["id"] for loc in locations]
    uids = [evse["uid"] for loc in locations for evse in loc["evses"]]
    evse_ids = [evse["evse_id"] for loc in locations for evse in loc["evses"]]
    assert len(set(ids)) == LOCATIONS
    assert len(set(uids)) == EVSES
    assert len(set(evse_ids)) == EVSES
    assert ids[0] == "B0000000"


def test_every_page_is_accepted_by_the_normaliser_without_a_problem(dataset: Dataset) -> None:
    for page in dataset.page_bytes():
        accepted, rejected, notes = _normalise(page)
        assert rejected == []
        assert notes == []
        assert accepted == len(msgspec.json.decode(page))


def test_locations_carry_the_required_fields_and_structure(dataset: Dataset) -> None:
    required = {"country_code", "party_id", "id", "publish", "address", "city", "country"}
    required |= {"coordinates", "time_zone", "last_updated"}
    for loc in dataset.locations():
        assert required <= loc.keys()
        assert loc["evses"], loc["id"]
        for evse in loc["evses"]:
            assert evse["status"] != "REMOVED"
            ids = [c["id"] for c in evse["connectors"]]
            assert ids == [str(n) for n in range(1, len(ids) + 1)], evse["uid"]
        lat, lon = loc["coordinates"]["latitude"], loc["coordinates"]["longitude"]
        assert len(lat.split(".")[1]) == 6 and len(lon.split(".")[1]) == 6


def test_status_distribution_is_roughly_as_specified(dataset: Dataset) -> None:
    statuses = Counter(evse["status"] for loc in dataset.locations() for evse in loc["evses"])
    assert set(statuses) <= set(EXPECTED_STATUS_SHARES)
    for status, share in EXPECTED_STATUS_SHARES.items():
        assert statuses[status] / EVSES == pytest.approx(share, abs=0.025), status


def test_most_locations_are_open_around_the_clock(dataset: Dataset) -> None:
    hours = [loc["opening_times"] for loc in dataset.locations()]
    always = sum(h["twentyfourseven"] for h in hours) / len(hours)
    assert always == pytest.approx(0.8, abs=0.04)
    assert all(h["regular_hours"] for h in hours if not h["twentyfourseven"])


def test_us_points_carry_no_type_2_connectors(dataset: Dataset) -> None:
    us = [loc for loc in dataset.locations() if loc["country"] == "USA"]
    standards = Counter(
        c["standard"] for loc in us for evse in loc["evses"] for c in evse["connectors"]
    )
    assert len(us) > 1_000
    assert not {"IEC_62196_T2", "IEC_62196_T2_COMBO"} & standards.keys()
    assert {"IEC_62196_T1", "IEC_62196_T1_COMBO", "TESLA_S"} <= standards.keys()


def test_every_source_contributes_points(dataset: Dataset) -> None:
    manifest = msgspec.json.decode((dataset.out_dir / "manifest.json").read_bytes())
    for source in ("afdc", "bnetza", "uk", "ocpi"):
        assert manifest["source_points"][source] > 0, source
        assert manifest["available_points"][source] >= manifest["source_points"][source]
    assert sum(manifest["source_points"].values()) == LOCATIONS  # no clones needed yet
    assert sum(manifest["parties"].values()) == LOCATIONS
    assert {"US*AFX", "DE*BNX", "GB*NCX"} <= manifest["parties"].keys()


def test_same_arguments_give_byte_identical_files(dataset: Dataset, tmp_path: Path) -> None:
    generate(tmp_path / "again", locations=LOCATIONS, evses=EVSES, seed=42, page_size=PAGE_SIZE)
    generate(tmp_path / "other", locations=LOCATIONS, evses=EVSES, seed=7, page_size=PAGE_SIZE)
    names = sorted(p.name for p in dataset.out_dir.iterdir())
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == names
    for name in names:
        assert (tmp_path / "again" / name).read_bytes() == (dataset.out_dir / name).read_bytes()
    assert (tmp_path / "other" / "page-00000.json").read_bytes() != (
        dataset.out_dir / "page-00000.json"
    ).read_bytes()


def test_clones_lie_150_m_to_3_km_from_their_real_point(tmp_path: Path) -> None:
    points = source_points()[::1000]  # 67 real points, each cloned about 15 times
    info = generate(tmp_path, locations=1_000, evses=3_000, page_size=250, points=points)
    pages = [page_path(tmp_path, n).read_bytes() for n in range(info.pages)]
    locations = [loc for page in pages for loc in msgspec.json.decode(page)]
    assert info.source_points == {
        s: sum(p.source == s for p in points) for s in ("afdc", "bnetza", "uk", "ocpi")
    }
    assert info.evses == 3_000
    for index in range(len(points), len(locations)):
        clone, real = locations[index], locations[index % len(points)]
        distance_m = 1000 * haversine_km(
            float(real["coordinates"]["latitude"]),
            float(real["coordinates"]["longitude"]),
            float(clone["coordinates"]["latitude"]),
            float(clone["coordinates"]["longitude"]),
        )
        assert MIN_CLONE_OFFSET_M - 1 <= distance_m <= MAX_CLONE_OFFSET_M + 1, clone["id"]
        assert clone["name"].endswith(f" #{index // len(points) + 1}")
        assert clone["name"].startswith(real["name"][:200])
    for page in pages:
        _, rejected, notes = _normalise(page)
        assert (rejected, notes) == ([], [])


def test_cli_prints_progress_and_a_summary(tmp_path: Path) -> None:
    args = ["generate", "--locations", "120", "--evses", "400", "--out", str(tmp_path)]
    result = CliRunner().invoke(bench_cli, [*args, "--page-size", "50", "--seed", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("progress locations=120/120 (100%)" in line for line in lines)
    summary = lines[-1]
    assert "locations=120 evses=400" in summary and "pages=3" in summary
    assert "seconds=" in summary
    assert read_manifest(tmp_path).seed == 3


def test_too_few_evses_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot cover"):
        generate(tmp_path, locations=10, evses=9)
    assert list(tmp_path.iterdir()) == []
