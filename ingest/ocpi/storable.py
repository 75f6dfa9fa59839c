"""What PostgreSQL can never store, found before anything is written (issue 9, finding 4).

A value that the database refuses is a permanent error, not a reason to retry: a NUL character
in any string (neither ``text`` nor ``jsonb`` can hold U+0000), a number outside what its column
holds, an identifier too long for the index it is part of. Each check names the field at fault
(``evses[0].uid``), so the OCPI answer is a 2001 a network's engineer can act on, and a pulled
object that fails one is quarantined with that reason while the rest of its page is kept.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

# OCPI identifiers are CiString(36) (39 in 2.1.1); real feeds exceed that a little, so up to
# this many characters are kept. Longer would not fit the unique indexes (a B-tree entry holds
# at most ~2.7 kB) and is never a real identifier.
MAX_ID_CHARS: Final = 255
# Names, addresses and other free text (OCPI: string(255) at most): longer is cut, with a note.
MAX_TEXT_CHARS: Final = 1000
# The integer columns (voltage, amperage, power in W) are 32-bit.
MAX_INT32: Final = 2**31 - 1

_NUL_ESCAPE: Final = b"\\u0000"
_decoder = msgspec.json.Decoder()


def nul_path(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) holding a NUL character, or None."""
    if isinstance(value, str):
        return path or "$" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return where.replace("\x00", "\\u0000")
            found = nul_path(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_path(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def nul_in_json(raw: bytes) -> str | None:
    """Why this JSON object cannot be stored because of a NUL, naming the field; None when it
    has none (the common case costs one scan of the bytes)."""
    if _NUL_ESCAPE not in raw:
        return None
    try:
        where = nul_path(_decoder.decode(raw))
    except msgspec.DecodeError:
        return None  # not JSON: the decoder that reads it says why
    return None if where is None else nul_reason(where)


def nul_reason(where: str) -> str:
    return f"{where} contains a NUL character (U+0000), which cannot be stored"


def id_problem(field: str, value: str) -> str | None:
    if "\x00" in value:
        return nul_reason(field)
    if len(value) > MAX_ID_CHARS:
        return (
            f"{field} is {len(value):,} characters long; an OCPI id has at most 36 "
            f"(we accept up to {MAX_ID_CHARS})"
        )
    if not value.isprintable():
        return f"{field} {value[:40]!r} holds control characters"
    return None


def unstorable_body(body: Any) -> str | None:
    """For a decoded push body: the first value PostgreSQL could never store, named."""
    where = nul_path(body)
    return nul_reason(where) if where is not None else None
