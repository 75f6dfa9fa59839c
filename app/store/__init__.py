"""The store: the only code that speaks SQL or touches a database connection.

Public surface (everything else in the package is private to it):

- ``core``: ``Store`` (owns the pools; ``transaction()`` gives a ``Tx``), ``Tx``, ``Db``
- ``errors``: ``StoreError`` and its kinds (unavailable, timeout, conflict, not found, busy,
  rejected data), raised for every database failure
- ``records``: what the store writes (normalised locations, EVSEs, connectors, tariffs,
  problems)
- ``pieces``: the named SQL fragments the discovery queries are composed of
- one module per use case: ``discovery``, ``detail``, ``clusters`` (drivers' questions);
  ``serving`` (what the API's nearby index is built from and kept live by);
  ``locations``, ``tariffs``, ``quarantine`` (writes); ``networks``, ``pulls``, ``locks``,
  ``health`` (the service's own bookkeeping)
"""

from app.store.core import Db, Store, Tx, read_lag_s, track_read_lag
from app.store.errors import (
    Busy,
    Conflict,
    Duplicate,
    NotFound,
    RejectedData,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
)

__all__ = [
    "Busy",
    "Conflict",
    "Db",
    "Duplicate",
    "NotFound",
    "RejectedData",
    "Store",
    "StoreError",
    "StoreTimeout",
    "StoreUnavailable",
    "Tx",
    "read_lag_s",
    "track_read_lag",
]
