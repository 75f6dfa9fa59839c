"""When a status is stale (architecture.md): its network has been silent longer than its limit
(the network's own ``stale_after_s``, else the service's), or — when the caller asks with
``max_status_age_s`` — the status itself is older than that. Stale is reported, never shown as
live.

This is the rule's one definition in Python; ``app.store.pieces.network_silent`` and
``evse_stale`` spell the same rule in SQL, and ``tests/test_staleness.py`` runs a table of cases
through both and requires the same verdicts.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def silent_after(
    last_contact_at: datetime | None,
    default_stale_after_s: int,
    network_stale_after_s: int | None = None,
) -> datetime | None:
    """The instant after which this network is silent (None: never heard from, silent now)."""
    if last_contact_at is None:
        return None
    limit_s = network_stale_after_s if network_stale_after_s is not None else default_stale_after_s
    return last_contact_at + timedelta(seconds=limit_s)


def network_silent(
    last_contact_at: datetime | None,
    now: datetime,
    default_stale_after_s: int,
    network_stale_after_s: int | None = None,
) -> bool:
    """Every status of this network is stale: never heard from, or silent too long."""
    after = silent_after(last_contact_at, default_stale_after_s, network_stale_after_s)
    return after is None or now > after


def status_too_old(
    status_updated_at: datetime | None, now: datetime, max_status_age_s: int | None
) -> bool:
    """The caller's own bound: a status older than ``max_status_age_s`` counts as stale."""
    if max_status_age_s is None:
        return False
    return status_updated_at is None or status_updated_at < now - timedelta(
        seconds=max_status_age_s
    )
