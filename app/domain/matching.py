"""One station once (issue 12): do two records of different sources describe the same site?

A pure scorer. Each piece of evidence is a number in [-1, 1] (for, against; 0 when either
record does not say), weighted and summed; a pair is the same site when the sum reaches
``SAME_SITE_SCORE``. Every piece is kept with its reason, so a merge can be explained
(``wattlas sources explain``).

| evidence | weight | for (+1) | against (−1) |
|---|---|---|---|
| distance | 2.0 | 0 m | ``MAX_DISTANCE_M`` (linear; 0 at half of it) |
| address | 2.5 | same street and number | same street, other number (other street: −0.5) |
| postcode | 1.0 | equal | different |
| operator | 1.0 | names share their words | no word in common (−0.5) |
| name | 0.8 | similar (ratio ≥ 0.8) | — (names differ between registries too often) |
| points | 0.5 | same number of charge points | one has 3× the other's |
| connectors | 0.7 | a plug type in common | none in common |
| power | 0.5 | max power within 25 % | one has 2× the other's |

Thresholds were set from the rules above and then checked (not fitted) against the labelled
Berlin sample (tests/registries/labels): a false merge hides a real station, so a pair with
nothing but distance (≤ 2.0) never merges.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from difflib import SequenceMatcher

from anyascii import anyascii

MAX_DISTANCE_M = 120.0  # candidates: further apart than this are never the same site
SAME_SITE_SCORE = 2.5

WEIGHTS = {
    "distance": 2.0,
    "address": 2.5,
    "postcode": 1.0,
    "operator": 1.0,
    "name": 0.8,
    "points": 0.5,
    "connectors": 0.7,
    "power": 0.5,
}


@dataclass(frozen=True)
class SiteRecord:
    """What one source says about a site (a location row, as the merge reads it)."""

    pk: int
    network_id: int
    source: str  # ocpi:<network> | afdc | bnetza | ukncr | ocm
    live: bool  # an OCPI network (live status), not a registry
    record_id: str
    name: str | None
    operator: str | None
    address: str | None
    postal_code: str | None
    lat: float
    lon: float
    evse_count: int
    standards: frozenset[str]  # known connector standards (UNKNOWN left out)
    max_power_kw: float | None
    updated_at: datetime
    details_known: bool = True  # False: the source lists the site, not its points


@dataclass(frozen=True)
class Evidence:
    name: str
    value: float  # in [-1, 1]
    weight: float
    reason: str

    @property
    def points(self) -> float:
        return self.value * self.weight


@dataclass(frozen=True)
class Match:
    a: SiteRecord
    b: SiteRecord
    distance_m: float
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(e.points for e in self.evidence), 3)

    @property
    def same_site(self) -> bool:
        return self.score >= SAME_SITE_SCORE


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a 6,371,008.8 m sphere (within 0.5 % of the spheroid here)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


# ---- normalising text ---------------------------------------------------------------------------
_STREET_WORDS = {
    "str": "strasse", "strasse": "strasse", "st": "street", "ave": "avenue", "av": "avenue",
    "rd": "road", "dr": "drive", "blvd": "boulevard", "ln": "lane", "hwy": "highway",
    "pl": "place", "ct": "court", "sq": "square", "pkwy": "parkway", "n": "north", "s": "south",
    "e": "east", "w": "west",
}  # fmt: skip
_LEGAL_FORMS = frozenset({
    "gmbh", "ag", "se", "kg", "co", "mbh", "ug", "ltd", "limited", "plc", "inc", "llc", "corp",
    "corporation", "company", "the", "und", "and", "e", "v", "ev", "eg", "sa", "bv", "nv",
    "stadtwerke", "energie", "energy", "charging", "charge", "services", "service",
})  # fmt: skip
_WORD = re.compile(r"[a-z]+|\d+")
_NUMBER = re.compile(r"\b(\d+)\s*([a-z]?)\b")


def plain(text: str | None) -> str:
    return anyascii(text or "").casefold()


def _street_key(words: list[str]) -> str:
    """Street words joined; German compounds ("Boyenstr." / "Boyen Straße") meet in one key."""
    out = "".join(_STREET_WORDS.get(w, w) for w in words)
    return out.replace("strasse", "str").replace("street", "st")


@dataclass(frozen=True)
class Address:
    street: str
    numbers: frozenset[int]


# Words that say where the point is relative to the address, not which street it is on.
_FILLERS = frozenset({"ggu", "gegenuber", "vor", "nr", "hinter", "neben", "hausnr", "no", "am"})
_PARTS = re.compile(r"[,;/]|\b(?:ecke|corner of|in|at|and|&)\b")


def _part(text: str) -> Address | None:
    numbers: set[int] = {int(m.group(1)) for m in _NUMBER.finditer(text)}
    ranged = re.search(r"\b(\d+)\s*[-–]\s*(\d+)\b", text)
    if ranged:
        low, high = int(ranged.group(1)), int(ranged.group(2))
        if 0 < high - low <= 20:
            numbers.update(range(low, high + 1))
    words = [w for w in _WORD.findall(text) if not w.isdigit() and w not in _FILLERS]
    if not words:
        return None
    return Address(_street_key(words), frozenset(numbers))


def parse_address(text: str | None) -> list[Address]:
    """The streets of an address with their house numbers ("Boyenstr. 23", "287 Maspeth Ave",
    "12-14 High St", "Güntzelstr. 56 / Ecke Bundesallee 14"); a part without a number (a
    district after a comma) counts only when no part has one."""
    if not text:
        return []
    cleaned = plain(text).replace("ß", "ss")
    parts = [p for p in (_part(t) for t in _PARTS.split(cleaned) if t and t.strip()) if p]
    numbered = [p for p in parts if p.numbers]
    return numbered or parts[:1]


def _postcode(text: str | None) -> str | None:
    cleaned = re.sub(r"\s+", "", (text or "").upper())
    if re.fullmatch(r"\d{5}-\d{4}", cleaned):  # a US ZIP+4 is its ZIP
        return cleaned[:5]
    return cleaned[:5] if cleaned.isdigit() else cleaned or None


def _operator_words(text: str | None) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(plain(text)) if w not in _LEGAL_FORMS and len(w) > 1)


# ---- the evidence -------------------------------------------------------------------------------
def _distance(d: float) -> Evidence:
    value = max(-1.0, 1.0 - 2.0 * d / MAX_DISTANCE_M)
    return Evidence("distance", round(value, 3), WEIGHTS["distance"], f"{d:.0f} m apart")


def _same_street(a: str, b: str) -> bool:
    return a == b or a in b or b in a or SequenceMatcher(None, a, b).ratio() >= 0.85


def _address_pair(pa: Address, pb: Address) -> tuple[float, str]:
    if not _same_street(pa.street, pb.street):
        return -0.5, "other street (could be a corner)"
    if not pa.numbers or not pb.numbers:
        return 0.4, "same street, a house number missing"
    if pa.numbers & pb.numbers:
        return 1.0, "same street and house number"
    gap = min(abs(x - y) for x in pa.numbers for y in pb.numbers)
    if gap <= 2:
        return 0.3, f"same street, house numbers {gap} apart"
    return -1.0, "same street, other house number"


def _address(a: SiteRecord, b: SiteRecord) -> Evidence | None:
    parts_a, parts_b = parse_address(a.address), parse_address(b.address)
    if not parts_a or not parts_b:
        return None
    value, reason = max(_address_pair(pa, pb) for pa in parts_a for pb in parts_b)
    return Evidence("address", value, WEIGHTS["address"], reason)


def _postcode_evidence(a: SiteRecord, b: SiteRecord) -> Evidence | None:
    pa, pb = _postcode(a.postal_code), _postcode(b.postal_code)
    if not pa or not pb:
        return None
    w = WEIGHTS["postcode"]
    if pa == pb or (len(pa) > 4 and len(pb) > 4 and pa[:-1] == pb[:-1] and not pa.isdigit()):
        return Evidence("postcode", 1.0, w, "same postcode")
    return Evidence("postcode", -1.0, w, f"postcodes {pa} and {pb}")


def _operator(a: SiteRecord, b: SiteRecord) -> Evidence | None:
    wa, wb = _operator_words(a.operator), _operator_words(b.operator)
    if not wa or not wb:
        return None
    w = WEIGHTS["operator"]
    if wa & wb:
        return Evidence("operator", 1.0, w, f"operators share {', '.join(sorted(wa & wb))}")
    return Evidence("operator", -0.5, w, "operators share no word")


def _name(a: SiteRecord, b: SiteRecord) -> Evidence | None:
    na, nb = plain(a.name).strip(), plain(b.name).strip()
    if not na or not nb:
        return None
    ratio = SequenceMatcher(None, na, nb).ratio()
    if ratio >= 0.8:
        return Evidence("name", 1.0, WEIGHTS["name"], f"names alike ({ratio:.2f})")
    return None


def _points(a: SiteRecord, b: SiteRecord) -> Evidence | None:
    if not (a.details_known and b.details_known) or not a.evse_count or not b.evse_count:
        return None
    low, high = sorted((a.evse_count, b.evse_count))
    w = WEIGHTS["points"]
    if low == high:
        return Evidence("points", 1.0, w, f"{low} charge points each")
    if high >= 3 * low:
        return Evidence("points", -1.0, w, f"{low} and {high} charge points")
    return Evidence("points", 0.0, w, f"{low} and {high} charge points")


def _connectors(a: SiteRecord, b: SiteRecord) -> Evidence | None:
    if not a.standards or not b.standards:
        return None
    w = WEIGHTS["connectors"]
    common = a.standards & b.standards
    if common:
        return Evidence("connectors", 1.0, w, f"both have {', '.join(sorted(common))}")
    return Evidence("connectors", -1.0, w, "no connector type in common")


def _power(a: SiteRecord, b: SiteRecord) -> Evidence | None:
    if not a.max_power_kw or not b.max_power_kw:
        return None
    low, high = sorted((a.max_power_kw, b.max_power_kw))
    w = WEIGHTS["power"]
    if high <= 1.25 * low:
        return Evidence("power", 1.0, w, f"max power {low:g} and {high:g} kW")
    if high >= 2 * low:
        return Evidence("power", -1.0, w, f"max power {low:g} and {high:g} kW")
    return Evidence("power", 0.0, w, f"max power {low:g} and {high:g} kW")


def score(a: SiteRecord, b: SiteRecord) -> Match:
    d = distance_m(a.lat, a.lon, b.lat, b.lon)
    pieces = [_distance(d)]
    for piece in (_address, _postcode_evidence, _operator, _name, _points, _connectors, _power):
        evidence = piece(a, b)
        if evidence is not None:
            pieces.append(evidence)
    return Match(a, b, d, pieces)


def may_merge(a: SiteRecord, b: SiteRecord) -> bool:
    """Only a registry record merges: two OCPI networks' locations are two networks' stations
    (each with its own live EVSEs), and one source's records are its own business."""
    return a.network_id != b.network_id and not (a.live and b.live)


def head_rank(record: SiteRecord) -> tuple[int, int, datetime, int]:
    """The site's head answers for it: live OCPI first (its status is the truth), then the
    record that knows its charge points, then the most recent; ties by the oldest row."""
    return (int(record.live), int(record.details_known), record.updated_at, -record.pk)


@dataclass
class _Cluster:
    members: list[SiteRecord]
    networks: set[int]
    live: int


def clusters(records: list[SiteRecord], matches: list[Match]) -> list[list[SiteRecord]]:
    """Sites from the matches that reach the threshold, best first. Two sites join only when
    every record of one is the same site as every record of the other (complete linkage), so
    no record is merged through a third it does not match itself; and a site never holds two
    records of one network or two live records."""
    same = {frozenset((m.a.pk, m.b.pk)) for m in matches if m.same_site}
    of: dict[int, _Cluster] = {r.pk: _Cluster([r], {r.network_id}, int(r.live)) for r in records}
    for match in sorted(matches, key=lambda m: (-m.score, m.distance_m, m.a.pk, m.b.pk)):
        if not match.same_site:
            break
        ca, cb = of[match.a.pk], of[match.b.pk]
        if ca is cb or ca.networks & cb.networks or ca.live + cb.live > 1:
            continue
        if any(frozenset((x.pk, y.pk)) not in same for x in ca.members for y in cb.members):
            continue
        ca.members.extend(cb.members)
        ca.networks |= cb.networks
        ca.live += cb.live
        for member in cb.members:
            of[member.pk] = ca
    seen: set[int] = set()
    out = []
    for cluster in of.values():
        if id(cluster) in seen or len(cluster.members) < 2:
            continue
        seen.add(id(cluster))
        out.append(sorted(cluster.members, key=head_rank, reverse=True))
    return out
