"""Text search normalisation: stored search text and queries go through the same function, so
"Main St", "main street" and "MAIN STR." meet; accents are folded (typos are the trigram index's
job)."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)

# Street-type abbreviations of the countries in our data (US, UK, DE, NL, …).
_EXPANSIONS = {
    "st": "street",
    "str": "strasse",
    "straße": "strasse",
    "rd": "road",
    "ave": "avenue",
    "av": "avenue",
    "blvd": "boulevard",
    "dr": "drive",
    "ln": "lane",
    "hwy": "highway",
    "pkwy": "parkway",
    "pl": "place",
    "sq": "square",
    "ct": "court",
    "cir": "circle",
    "mt": "mount",
    "ft": "fort",
    "n": "north",
    "s": "south",
    "e": "east",
    "w": "west",
}


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def search_text(*parts: str | None) -> str:
    """Lower-case, accents folded, street abbreviations expanded, words separated by a space."""
    words = _WORD.findall(fold(" ".join(p for p in parts if p)))
    return " ".join(_EXPANSIONS.get(w, w) for w in words)
