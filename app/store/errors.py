"""The store's errors: what a database failure means to the rest of the system.

Every connection the store acquires and every statement it runs goes through ``translate``,
so nothing outside the store ever sees a psycopg exception (stac-fastapi-pgstac's
``translate_pgstac_errors`` is the model)::

    StoreError                    anything the database refused or could not do
    ├── StoreUnavailable          no connection (down, restarting, pool exhausted): retry later
    ├── StoreTimeout              a statement ran past its timeout: retry later, or ask less
    ├── Conflict                  a deadlock or serialization failure: retry the transaction
    ├── Duplicate                 a unique key another row already has
    ├── NotFound                  the addressed record does not exist
    ├── Busy                      someone else holds the lock this work needs (a pull, a refresh)
    └── RejectedData              the data can never be stored (a NUL, a number out of range,
                                  a key too long to index): a permanent error, not a retry

The API maps these to 503/504/409/404/400 and the OCPI receiver to 3000 and 2001 in one
exception handler each.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import psycopg.errors
from psycopg_pool import PoolTimeout, TooManyRequests


class StoreError(RuntimeError):
    """A database operation failed; ``retry_after_s`` says when trying again makes sense."""

    retry_after_s: float | None = None


class StoreUnavailable(StoreError):
    retry_after_s = 5.0


class StoreTimeout(StoreError):
    retry_after_s = 2.0


class Conflict(StoreError):
    retry_after_s = 0.1


class Duplicate(StoreError):
    pass


class NotFound(StoreError, LookupError):
    pass


class Busy(StoreError):
    pass


class RejectedData(StoreError, ValueError):
    """The database can never store this value; the message says which kind of value."""


# SQLSTATE classes (https://www.postgresql.org/docs/15/errcodes-appendix.html).
_UNAVAILABLE_CLASSES = ("08", "53", "57P")  # connection, resources, operator intervention
_DATA_CLASSES = ("22", "54")  # data exception, program limit exceeded (oversized index rows)


def _classify(exc: psycopg.Error) -> type[StoreError]:
    if isinstance(exc, psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable):
        return StoreTimeout
    if isinstance(exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure):
        return Conflict
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return Duplicate
    state = exc.sqlstate or ""
    # psycopg refuses some values before they are sent (a NUL in text): a DataError too.
    if state.startswith(_DATA_CLASSES) or isinstance(exc, psycopg.DataError):
        return RejectedData
    if state.startswith(_UNAVAILABLE_CLASSES) or isinstance(
        exc, psycopg.OperationalError | psycopg.InterfaceError
    ):
        return StoreUnavailable
    return StoreError


def describe(exc: BaseException) -> str:
    """One line for logs and error answers: the server's message without its context lines."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0]


@contextmanager
def translate() -> Iterator[None]:
    """Turn psycopg and pool exceptions raised inside into StoreErrors (the one boundary)."""
    try:
        yield
    except StoreError:
        raise
    except (PoolTimeout, TooManyRequests) as exc:
        raise StoreUnavailable(f"no database connection available: {describe(exc)}") from exc
    except psycopg.Error as exc:
        kind = _classify(exc)
        raise kind(describe(exc)) from exc
    except OSError as exc:  # a socket that died under psycopg (TimeoutError included)
        raise StoreUnavailable(f"database connection failed: {describe(exc)}") from exc
