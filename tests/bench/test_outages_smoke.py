"""The outages benchmark part (devtools/bench/outages.py) runs end to end in a tiny configuration:
real PostgreSQL and Redis of its own, stopped and started again under the real service (granian,
two workers) and a steady load. What it measures is the benchmark's business (no timing is
asserted here); what is checked is that each outage was really seen and that no acknowledged
push was lost. The worker-kill phase waits for a respawned worker to import the app, which
takes longer than this test may: the benchmark itself runs it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from devtools.bench import outages
from devtools.bench.harness import STATE
from wattlas.local import LocalServices


@pytest.mark.slow
def test_the_outages_part_sees_each_outage_and_loses_no_acknowledged_push() -> None:
    root = Path(tempfile.mkdtemp(prefix="wattlas-bench-outages-"))
    root.chmod(0o755)  # PostgreSQL runs as the postgres user when we are root
    config = outages.Config(
        workers=1,
        locations=300,
        evses=900,
        pushed_evses=200,
        rates={"nearby": 40.0, "detail": 20.0, "push": 40.0, "health": 2.0},
        clients={"nearby": 4, "detail": 2, "push": 4, "health": 1},
        warmup_s=1.0,
        pg_outage_s=2.0,
        redis_outage_s=2.0,
        settle_s=0.5,
        tail_s=0.5,
        phases=("postgres", "redis"),
        state_dir=root,
        dataset_dir=STATE / "outages-smoke-dataset",  # generated once, then reused
    )
    try:
        results = outages.run(config)
    finally:
        LocalServices(root / "services").destroy()
        shutil.rmtree(root, ignore_errors=True)

    postgres = results["postgres_stopped"]
    refused = {"nearby": "503", "detail": "503", "push": "503/3000"}
    for kind, answer in refused.items():
        down = postgres[kind]["while_down"]
        assert down["requests"] > 0, kind
        assert down["answers"] == {answer: down["requests"]}, kind
        assert down["retry_after"] == {"5": down["requests"]}, kind
        assert postgres[kind]["first_200_after_restart_s"] is not None, kind
    assert postgres["pushes_acknowledged_before_stop"]["pushes"] > 0
    assert postgres["pushes_acknowledged_before_stop"]["lost"] == 0

    redis = results["redis_stopped"]
    assert redis["push"]["answers"] == {"200/1000": redis["push"]["requests"]}
    assert redis["nearby"]["answers"] == {"200": redis["nearby"]["requests"]}
    assert redis["open_stream"]["reset_after_s"] is not None
    assert redis["new_stream_while_down"]["status"] == 503
    assert redis["after_restart"]["events_flow_after_s"] is not None

    assert results["pushes"]["acknowledged"] > 0
    assert results["pushes"]["lost"] == 0
