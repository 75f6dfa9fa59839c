"""Which writes become availability events, and of which kind (plain function, no services)."""

from __future__ import annotations

from datetime import UTC, datetime

from app.domain.status import BucketCounts
from app.live.events import availability_events
from app.store.locations import ApplyResult, LocationState, StatusChange

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _state(pk: int, *, status_only: bool) -> LocationState:
    return LocationState(
        pk, f"loc{pk}", 52.0, 5.0, 0x851F1D4BFFFFFFF, 0, True, BucketCounts(2, 1, 1, 0, 0, 0),
        status_only,
    )  # fmt: skip


def _result() -> ApplyResult:
    # 1: a status change only; 2: rewritten with a status change; 3: rewritten, no status change
    return ApplyResult(
        status_changes=[
            StatusChange(1, "A", "AVAILABLE", "CHARGING"),
            StatusChange(2, "B", None, "AVAILABLE"),
        ],
        states=[
            _state(1, status_only=True),
            _state(2, status_only=False),
            _state(3, status_only=False),
        ],
    )


def test_pushes_announce_every_location_they_wrote() -> None:
    events = availability_events(_result(), AT, location_writes=True)
    assert [(e.location_id, e.kind, [(s.uid, s.status) for s in e.evses]) for e in events] == [
        ("loc1", "status", [("A", "CHARGING")]),
        ("loc2", "location", [("B", "AVAILABLE")]),
        ("loc3", "location", []),
    ]


def test_pulls_announce_status_changes_only() -> None:
    """A pull's page rewrites hundreds of locations that mostly did not change."""
    events = availability_events(_result(), AT)
    assert [(e.location_id, e.kind) for e in events] == [("loc1", "status"), ("loc2", "location")]
