"""Text search normalisation: stored search text and queries go through the same function, so
"Main St", "main street" and "MAIN STR." meet.

Every script is transliterated to lower-case ASCII (``anyascii``, ISC licence): Kadıköy and
kadikoy meet (Turkish dotless ı), Москва and moskva (Latin ↔ Cyrillic both ways), São and sao.
A German word with an umlaut is also stored in its ``ae/oe/ue`` spelling, the way Germans type
it without the key (München: ``munchen muenchen``); a query word has both spellings as
alternatives. Typos are the trigram index's job (issue 11, "search drivers can use")."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii

_WORD = re.compile(r"\w+", re.UNICODE)

# Street-type abbreviations of the countries in our data (US, UK, DE, NL, …).
_EXPANSIONS = {
    "st": "street",
    "str": "strasse",
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


_ASCII_WORD = re.compile(r"[a-z0-9]+")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def fold(text: str) -> str:
    """Lower-case ASCII: accents dropped, other scripts transliterated."""
    return anyascii(unicodedata.normalize("NFC", text)).lower()


# Words repeat across a feed (cities, streets, operators): a pull spent a seventh of normalising
# folding the same words again. Bounded, so a feed of unique words cannot grow it: 8,192 words
# are about 1.8 MB at most in each process that normalises (API workers included).
@lru_cache(maxsize=8192)
def _spellings(word: str) -> tuple[str, ...]:
    """The folded spellings of one word as written (several ASCII words only when a single
    character transliterates to more than one, as some CJK and symbols do)."""
    primary = " ".join(_EXPANSIONS.get(w, w) for w in _ASCII_WORD.findall(fold(word)))
    if primary and word.translate(_UMLAUTS) != word:
        german = " ".join(_ASCII_WORD.findall(fold(word.translate(_UMLAUTS))))
        if german != primary:
            return (primary, german)
    return (primary,) if primary else ()


def query_terms(text: str) -> list[tuple[str, ...]]:
    """The words of a query, each as its alternative spellings (every one a single word)."""
    terms: list[tuple[str, ...]] = []
    for word in _WORD.findall(unicodedata.normalize("NFC", text)):
        spellings = _spellings(word)
        if len(spellings) > 1 and all(" " not in s for s in spellings):
            terms.append(spellings)
        else:
            terms.extend((w,) for s in spellings[:1] for w in s.split())
    return terms


def search_text(*parts: str | None) -> str:
    """Lower-case ASCII, street abbreviations expanded, each word followed by its German
    spelling when it has an umlaut; words separated by a space."""
    words = _WORD.findall(unicodedata.normalize("NFC", " ".join(p for p in parts if p)))
    return " ".join(s for word in words for s in _spellings(word))


# Locations whose name or address says they are a test (3 % of one real feed: "Kostad OCPP
# test", "Тестовая локация"): ranked after every real match in text search (issue 11), not
# hidden, because a network's tests are still real chargers now and then. Whole words of the
# folded text only, so "Teststraat" and "Testaccio" are not tests. The SQL twin is
# app.store.pieces.TEST_NAMED (tests/domain/test_text.py keeps the two in agreement).
TEST_WORDS = ("test", "tests", "testing", "testovaya", "testovyy", "testovoe", "testovye")


def looks_like_test(text: str) -> bool:
    """Whether a location's text (name, address, city, operator) says it is a test."""
    return any(word in TEST_WORDS for word in search_text(text).split())


# Text search with a position: a match's similarity (0–1) is weighed by
# 1 / (1 + distance_m / SEARCH_DISTANCE_SCALE_M), so an equally good match 50 km away counts
# half, one 13,000 km away next to nothing (issue 11: "fastnet" near Amsterdam).
SEARCH_DISTANCE_SCALE_M = 50_000.0


def distance_weighted(similarity: float, distance_m: float) -> float:
    return similarity / (1.0 + distance_m / SEARCH_DISTANCE_SCALE_M)


_ID_SEPARATORS = re.compile(r"[^0-9A-Za-z]+")
# An EVSE id typed into search (``NL*PGO*ABL00002*1``): one token with a digit, at least this
# many letters and digits once separators are dropped; prefixes match from ID_PREFIX_CHARS.
ID_MIN_CHARS = 6
ID_PREFIX_CHARS = 8


def evse_id_key(text: str) -> str | None:
    """The id without separators, upper-cased (the SQL function ``wattlas_id_key``), when the
    query looks like an EVSE id or uid; else None."""
    stripped = text.strip()
    if not stripped or any(c.isspace() for c in stripped) or not any(c.isdigit() for c in stripped):
        return None
    key = _ID_SEPARATORS.sub("", stripped).upper()
    return key if len(key) >= ID_MIN_CHARS else None
