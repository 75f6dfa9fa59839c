"""Who is calling: the ``Authorization: Token …`` header → a network and the parties it may
write. Lookups are cached for a few seconds (a push burst does not cost a query per request);
a revoked token stops working within that time in every process, at once in this one."""

from __future__ import annotations

import time

from app.store import Store, networks
from ingest.ocpi import transport

CACHE_TTL_S = 5.0


class TokenCache:
    def __init__(self, store: Store, ttl_s: float = CACHE_TTL_S) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, networks.NetworkAuth | None]] = {}

    async def authenticate(
        self, authorization: str | None, *, max_age_s: float | None = None
    ) -> networks.NetworkAuth | None:
        """The token's network; from the cache unless the entry is older than ``max_age_s``
        (a refusal asks again: a hub's new party may have arrived since, in another process)."""
        candidates = transport.token_candidates(authorization)
        if not candidates:
            return None
        key = "\x00".join(candidates)
        now = time.monotonic()
        cached = self._entries.get(key)
        fresh_enough = (
            max_age_s is None or cached is None or (now - (cached[0] - self._ttl_s) <= max_age_s)
        )
        if cached is not None and cached[0] > now and fresh_enough:
            return cached[1]
        auth = await networks.authenticate(self._store, candidates)
        # A registration in progress changes within seconds (its parties arrive with the
        # credentials answer): only settled answers are remembered.
        if auth is None or auth.status in ("REGISTERED", "STATIC"):
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (now + self._ttl_s, auth)
        return auth

    def forget(self, network_id: int | None = None) -> None:
        if network_id is None:
            self._entries.clear()
            return
        self._entries = {
            k: v for k, v in self._entries.items() if v[1] is None or v[1].network_id != network_id
        }
