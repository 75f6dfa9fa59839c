"""The route as the corridor query takes it (app.domain.route): read straight from the body's
JSON into points, cut into stretches with their bounds, and the windows read in route order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from shapely import from_wkb

from app.domain.route import RouteError, pieces, route_points, validate

ROUTES = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "routes").glob("*.geojson"))


def _line(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text())
    if data["type"] == "FeatureCollection":
        data = data["features"][0]
    return data["geometry"] if data["type"] == "Feature" else data  # type: ignore[no-any-return]


@pytest.mark.parametrize("route", ROUTES, ids=lambda p: p.stem)
def test_each_stretch_has_its_own_bounds_offsets_and_neighbours(route: Path) -> None:
    line = _line(route)
    points = validate(route_points(json.dumps(line).encode()))
    cut = pieces(points)
    coords = [np.asarray(from_wkb(wkb).coords) for wkb in cut.wkb]
    assert np.array_equal(np.concatenate([c[:-1] for c in coords] + [coords[-1][-1:]]), points)
    for i, stretch in enumerate(coords):
        assert cut.bounds[i].tolist() == [*stretch.min(axis=0), *stretch.max(axis=0)]
        assert cut.max_abs_lat[i] == np.abs(stretch[:, 1]).max()
    ends = np.add(cut.start_m, cut.length_m)
    assert np.allclose(cut.start_m[1:], ends[:-1])  # contiguous, in route order
    assert cut.first_ending_at(0) == 0
    assert cut.first_ending_at(ends[3]) == 3  # the stretch ending exactly there
    assert cut.first_ending_at(ends[3] + 0.001) == 4
    assert cut.first_ending_at(ends[-1] + 1) == len(cut)
    # A road route does not come back on itself: each stretch's neighbours are the ones beside it.
    for i in range(1, len(cut) - 1, 7):
        assert {i - 1, i + 1} <= set(cut.neighbours(cut.reach(5100), i, i + 1))


def test_a_route_that_comes_back_has_its_other_pass_as_neighbour() -> None:
    east = [[10.0 + 0.05 * i, 48.0] for i in range(15)]
    back = [[10.7 - 0.05 * i, 48.02] for i in range(15)]
    cut = pieces(
        validate(
            route_points(json.dumps({"type": "LineString", "coordinates": [*east, *back]}).encode())
        )
    )
    first_leg = [i for i in range(len(cut)) if cut.bounds[i][3] < 48.01]
    second_leg = [i for i in range(len(cut)) if cut.bounds[i][1] > 48.01]
    assert first_leg and second_leg
    assert set(cut.neighbours(cut.reach(5100), 0, 1)) & set(second_leg)
    assert not set(cut.neighbours(cut.reach(500), 0, 1)) & set(second_leg)  # 2.2 km apart


def test_positions_with_an_altitude_and_faults_by_index() -> None:
    pairs = [[4.93, 52.36], [5.0, 52.2], [5.12, 52.09]]
    with_altitude = [[4.93, 52.36, 1.5], [5.0, 52.2], [5.12, 52.09, 3]]
    read = route_points(json.dumps({"type": "LineString", "coordinates": pairs}).encode())
    assert read.tolist() == pairs
    altitude = route_points(
        json.dumps({"type": "LineString", "coordinates": with_altitude}).encode()
    )
    assert altitude.tolist() == pairs
    for coordinates, message in [
        ([[4.93, 52.36], [5.0, "52.2"]], "route.coordinates[1] is not a [lon, lat] position"),
        ([[4.93, 52.36], [5.0]], "route.coordinates[1] is not a [lon, lat] position"),
        ([[4.93, 52.36], [True, 52.2]], "route.coordinates[1] is not a [lon, lat] position"),
        ({"a": 1}, "route.coordinates must be an array of [lon, lat] positions"),
    ]:
        body = json.dumps({"type": "LineString", "coordinates": coordinates}).encode()
        with pytest.raises(RouteError, match=message.replace("[", r"\[").replace("]", r"\]")):
            route_points(body)
