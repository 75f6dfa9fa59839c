"""What binary COPY needs beyond psycopg's adapters: a dumper for ``text[]`` written for the one
shape the staging tables take (a one-dimensional list of strings).

psycopg's own list dumper is general (any depth, any element type, nulls), all in Python: it
was half of the time a pulled page took to format for COPY (its EVSEs carry four lists each).
This one writes the array's binary form (``array_send``: dimensions, null flag, element type,
then each element's length and bytes) in one pass."""

from __future__ import annotations

import struct
from typing import Any

from psycopg import postgres
from psycopg.abc import AdaptContext
from psycopg.adapt import Dumper
from psycopg.pq import Format

TEXT_OID = postgres.types["text"].oid
TEXT_ARRAY_OID = postgres.types["text"].array_oid
_EMPTY = struct.pack("!iiI", 0, 0, TEXT_OID)  # no dimensions
_ONE_DIMENSION = struct.Struct("!iiIii")  # ndim, has nulls, element type, length, lower bound
_LENGTH = struct.Struct("!i")
_NULL = _LENGTH.pack(-1)


class TextListDumper(Dumper):
    """A ``list[str | None]`` as a binary ``text[]`` (elements UTF-8, the staging tables' and
    the server's encoding)."""

    format = Format.BINARY
    oid = TEXT_ARRAY_OID

    def dump(self, obj: Any) -> bytes:
        if not obj:
            return _EMPTY
        parts = [b""]
        has_null = 0
        for item in obj:
            if item is None:
                has_null = 1
                parts.append(_NULL)
                continue
            data = item.encode()
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
        parts[0] = _ONE_DIMENSION.pack(1, has_null, TEXT_OID, len(obj), 1)
        return b"".join(parts)


def use_fast_dumpers(context: AdaptContext) -> None:
    """Let a cursor's COPY with ``set_types([... "text[]" ...])`` use the dumper above."""
    context.adapters.register_dumper(None, TextListDumper)
