"""Build the labelled Berlin sample: Open Charge Map POIs x BNetzA register rows.

Run from the repository root:

    uv run python tests/registries/labels/make_berlin_pairs.py            # writes the CSV
    uv run python tests/registries/labels/make_berlin_pairs.py --todo     # lists undecided pairs
    uv run python tests/registries/labels/make_berlin_pairs.py --check    # exit 1 if CSV differs

Every (OCM POI, BNetzA row) pair whose coordinates are within 250 m (haversine) is a candidate.
Each candidate is labelled by fixed rules (no tuned similarity score), see README.md:

  r1_same_address    a normalised street in common with overlapping house numbers -> same
  r2_other_number    same street, house numbers > 2 apart and > 60 m apart -> different
  r3_other_street    no street in common, >= 150 m apart, neither names the other's street
                     as a corner -> different
  r3_corner          no street in common but < 150 m apart (corner sites, a car park given by
                     its entrance street, spelling variants): decided by hand, berlin_manual.csv
  manual             rule 4, anything else (same street without a number on one side, numbers
                     <= 2 apart, or numbers > 2 apart but <= 60 m): decided by hand

A row of berlin_manual.csv for a pair that a rule already decides either confirms the rule
(its note is appended) or overrides it (the pair is then reported with rule "manual").
The script fails if a pair that needs a hand decision has no row, or a row matches no pair.

This file is independent of the merge code in wattlas/ on purpose: it must stay a yardstick.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DATA = REPO / "fixtures" / "registries" / "berlin"  # unchanged copies of ../shared/data/berlin
OCM_FILE = DATA / "openchargemap_final.json"
BNETZA_FILE = DATA / "netzagentur_final.csv"
OUT_FILE = HERE / "berlin_ocm_bnetza.csv"
MANUAL_FILE = HERE / "berlin_manual.csv"

RADIUS_M = 250.0  # candidate radius
FAR_M = 60.0  # rule 2: same street, other number, farther than this -> different site
LOOK_M = 150.0  # rule 3: different streets closer than this are looked at by hand
NUMBER_GAP = 2  # rule 2: house numbers more than this apart

# Spelling variants of one street seen in these two files (typos, abbreviations), as
# normalised keys. Each was checked by hand against the other file; README.md lists them.
STREET_ALIASES = {
    "fasanenstrstrasse": "fasanenstrasse",  # BNetzA "Fasanenstrstr. 88"
    "eisenachstrasse": "eisenacherstrasse",  # BNetzA "Eisenachstr. 102"
    "leibnitzstrasse": "leibnizstrasse",  # BNetzA "Leibnitzstr. 59"
    "pertervischerstrasse": "petervischerstrasse",  # BNetzA "Perter-Vischer-Str."
    "maxhermannstrasse": "maxherrmannstrasse",  # BNetzA "Max-Hermann-Str"
    "reichstrasse": "reichsstrasse",  # BNetzA "Reichstr. 13" (Westend: Reichsstraße)
    "leninerplatz": "lehninerplatz",  # OCM "Leniner Platz 1"
}


# --------------------------------------------------------------------------- geometry


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371008.8  # mean Earth radius, metres
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


# --------------------------------------------------------------------------- addresses


def fix_mojibake(s: str) -> str:
    """'SellerstraÃŸe' (UTF-8 read as cp1252) -> 'Sellerstraße'."""
    if "Ã" in s:
        try:
            return s.encode("cp1252").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return s
    return s


def street_key(text: str) -> str:
    """Normalise a street name: casefold, ß->ss, umlauts->ae/oe/ue, str.->strasse, strip
    everything that is not a letter or digit (so 'Kadinerstr.' == 'Kadiner Straße')."""
    s = unicodedata.normalize("NFC", fix_mojibake(text)).casefold()
    s = s.replace("ß", "ss").replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    s = re.sub(r"\([^)]*\)", " ", s)  # "(S-Bhf.)", "(Nord)"
    s = re.sub(r"str(?:\b|(?=\.))\.?", "strasse", s)  # "Boyenstr." / "Str ." / "Str"
    s = re.sub(r"[^0-9a-z]+", "", s)
    return STREET_ALIASES.get(s, s)


@dataclass(frozen=True)
class Part:
    """One street of an address with the house numbers given for it (may be empty)."""

    street: str  # normalised key
    numbers: frozenset[int]
    raw: str


@dataclass
class Address:
    parts: list[Part] = field(default_factory=list)

    @property
    def main(self) -> Part | None:
        return self.parts[0] if self.parts else None

    def show(self) -> str:
        return " / ".join(
            p.street + (" " + ",".join(map(str, sorted(p.numbers))) if p.numbers else "")
            for p in self.parts
        )


# a house number: 12, 12a, 12 A, 110A, 65 c/d, ranges 12-14, 34-37, 2-6
NUMBER_RE = re.compile(
    r"(?<![0-9])(\d{1,4})\s*(?:[a-zA-Z](?![a-zA-Z]))?(?:\s*/\s*[a-zA-Z](?![a-zA-Z]))?"
    r"(?:\s*[-–]\s*(\d{1,4})(?:\s*[a-zA-Z](?![a-zA-Z]))?)?"
)
# an ordinal that belongs to the name: "Straße des 17. Juni"
ORDINAL_RE = re.compile(r"\b(\d{1,2})\.\s+(?=[^\W\d])")
DIGIT_TO_LETTER = str.maketrans("0123456789", "abcdefghij")
LETTER_TO_DIGIT = str.maketrans("abcdefghij", "0123456789")
# words that stand between the street and the number: "ggü. 43", "Vor 1", "vor 90"
BEFORE_NUMBER_RE = re.compile(r"\b(?:ggü|gegenüber|vor|nr)\b\.?\s*(?=\d)", re.IGNORECASE)
# separators between two streets of one address
SPLIT_RE = re.compile(r"\s*/\s*(?=[^\W\d]{3,})|\s+ecke\s+|\s+in\s+(?=[^\W\d]{3,})", re.IGNORECASE)


def numbers_of(first: str, last: str | None) -> frozenset[int]:
    a = int(first)
    b = int(last) if last else a
    if b < a or b - a > 20:  # not a range ("3/5"?) -> only the leading number
        b = a
    return frozenset(range(a, b + 1))


def parse_part(text: str) -> Part | None:
    raw = fix_mojibake(text).strip()
    t = re.sub(r"^\s*ecke\s+", "", raw, flags=re.IGNORECASE)
    t = ORDINAL_RE.sub(lambda m: "ORD" + m.group(1).translate(DIGIT_TO_LETTER) + " ", t)
    t = BEFORE_NUMBER_RE.sub("", t)
    m = NUMBER_RE.search(t)
    nums: frozenset[int]
    if m is None:
        street_text, nums = t, frozenset()
    elif m.start() == 0 or not t[: m.start()].strip():
        # number first: "28 Sellerstraße", "4B Koenigstrasse"
        street_text, nums = t[m.end() :], numbers_of(m.group(1), m.group(2))
    else:
        # number after the street; anything after the number ("REWE") is dropped
        street_text, nums = t[: m.start()], numbers_of(m.group(1), m.group(2))
    if nums == frozenset() and re.search(r"stra(ss|ß)e|str\b", street_text, re.IGNORECASE):
        # "Lotte-Laserstein-Straße DB Südkreuz": drop words after the street word
        street_text = re.sub(
            r"^(.*?(?:stra(?:ss|ß)e|str\b\.?))\s+\S.*$", r"\1", street_text, flags=re.IGNORECASE
        )
    street_text = re.sub(
        r"ORD([a-j]+) ", lambda m: m.group(1).translate(LETTER_TO_DIGIT) + " ", street_text
    )
    key = street_key(street_text)
    if not key or key.isdigit():
        return None
    return Part(key, nums, raw)


def parse_address(*texts: str | None) -> Address:
    """First text is the main address line; later texts only contribute corner streets
    ("Ecke Behrensstraße" in OCM's AddressLine2)."""
    addr = Address()
    for i, text in enumerate(texts):
        if not text or not text.strip():
            continue
        pieces = SPLIT_RE.split(text.strip())
        if i > 0 and not re.match(r"\s*ecke\b", text, re.IGNORECASE):
            continue
        for piece in pieces:
            part = parse_part(piece)
            if part is not None and part not in addr.parts:
                addr.parts.append(part)
    return addr


# --------------------------------------------------------------------------- sources


@dataclass
class Ocm:
    id: int
    title: str
    line1: str
    line2: str
    postcode: str
    lat: float
    lon: float
    operator: str
    points: int | None
    plugs: str
    status: str
    addr: Address


@dataclass
class Bnetza:
    line: int
    operator: str
    street: str
    postcode: str
    lat: float
    lon: float
    points: str
    plugs: str
    power_kw: str
    addr: Address


def load_ocm(path: Path) -> list[Ocm]:
    out = []
    for p in json.loads(path.read_text(encoding="utf-8")):
        a = p["AddressInfo"]
        conns = p.get("Connections") or []
        plugs = "; ".join(
            f"{(c.get('ConnectionType') or {}).get('Title', '?')}"
            f"{' x' + str(c['Quantity']) if c.get('Quantity') else ''}"
            f"{' ' + str(c['PowerKW']) + 'kW' if c.get('PowerKW') else ''}"
            for c in conns
        )
        out.append(
            Ocm(
                id=int(p["ID"]),
                title=(a.get("Title") or "").strip(),
                line1=(a.get("AddressLine1") or "").strip(),
                line2=(a.get("AddressLine2") or "").strip(),
                postcode=(a.get("Postcode") or "").strip(),
                lat=float(a["Latitude"]),
                lon=float(a["Longitude"]),
                operator=((p.get("OperatorInfo") or {}).get("Title") or "").strip(),
                points=p.get("NumberOfPoints"),
                plugs=plugs,
                status=((p.get("StatusType") or {}).get("Title") or ""),
                addr=parse_address(a.get("AddressLine1"), a.get("AddressLine2")),
            )
        )
    return out


def load_bnetza(path: Path) -> list[Bnetza]:
    """Line numbers: the header is line 1; the file has no newline inside a field (checked
    here), so a record's line number is its physical line number."""
    text = path.read_text(encoding="utf-8")
    records = list(csv.reader(io.StringIO(text, newline="")))
    physical_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if physical_lines != len(records):
        raise SystemExit(f"{path}: {len(records)} records on {physical_lines} lines")
    out = []
    for line, r in enumerate(records[1:], start=2):
        plugs = "; ".join(f"{r[c]} {r[c + 1]}kW".strip() for c in (9, 11, 13, 15) if r[c].strip())
        out.append(
            Bnetza(
                line=line,
                operator=r[0].strip(),
                street=r[1].strip(),
                postcode=r[2].strip(),
                lon=float(r[3].replace(",", ".")),
                lat=float(r[4].replace(",", ".")),
                points=r[8].strip(),
                plugs=plugs,
                power_kw=r[6].strip(),
                addr=parse_address(r[1]),
            )
        )
    return out


# --------------------------------------------------------------------------- rules


@dataclass
class Decision:
    category: str  # r1_same_address, r2_other_number, r3_other_street, r3_corner, manual
    label: str | None  # None = needs a manual decision
    note: str


def decide(o: Ocm, b: Bnetza, dist: float) -> Decision:
    shared = [(po, pb) for po in o.addr.parts for pb in b.addr.parts if po.street == pb.street]
    # rule 1: a street in common with overlapping house numbers
    for po, pb in shared:
        if po.numbers and pb.numbers and po.numbers & pb.numbers:
            return Decision(
                "r1_same_address",
                "same",
                f"same address: {po.street} {fmt(po.numbers)} ~ {fmt(pb.numbers)}",
            )
    if shared:
        po, pb = shared[0]
        if po.numbers and pb.numbers:
            gap = min(abs(x - y) for x in po.numbers for y in pb.numbers)
            if gap > NUMBER_GAP and dist > FAR_M:
                return Decision(
                    "r2_other_number",
                    "different",
                    f"same street {po.street}, numbers {fmt(po.numbers)} vs {fmt(pb.numbers)}, "
                    f"{dist:.0f} m apart",
                )
            why = f"numbers {fmt(po.numbers)} vs {fmt(pb.numbers)} (gap {gap}), {dist:.0f} m"
        else:
            why = "house number missing on one side"
        return Decision("manual", None, f"same street {po.street}: {why}")
    # no street in common
    o_streets = {p.street for p in o.addr.parts}
    b_streets = {p.street for p in b.addr.parts}
    cross = (len(o.addr.parts) > 1 or len(b.addr.parts) > 1) and bool(o_streets & b_streets)
    if dist < LOOK_M or cross:
        return Decision("r3_corner", None, f"different streets, {dist:.0f} m: corner or alias?")
    return Decision(
        "r3_other_street",
        "different",
        f"different streets ({o.addr.show() or '-'} vs {b.addr.show() or '-'}), {dist:.0f} m",
    )


def fmt(nums: frozenset[int]) -> str:
    s = sorted(nums)
    return str(s[0]) if len(s) == 1 else f"{s[0]}-{s[-1]}"


# --------------------------------------------------------------------------- main

FIELDS = ["ocm_id", "bnetza_line", "distance_m", "label", "rule", "note"]


def load_manual(path: Path) -> dict[tuple[int, int], tuple[str, str]]:
    out: dict[tuple[int, int], tuple[str, str]] = {}
    if not path.exists():
        return out
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            key = (int(row["ocm_id"]), int(row["bnetza_line"]))
            if key in out:
                raise SystemExit(f"{path}: duplicate row for {key}")
            if row["label"] not in ("same", "different"):
                raise SystemExit(f"{path}: bad label {row['label']!r} for {key}")
            if not row["note"].strip():
                raise SystemExit(f"{path}: manual row {key} has no note")
            out[key] = (row["label"], row["note"].strip())
    return out


def candidates(ocm: list[Ocm], bnetza: list[Bnetza]) -> list[tuple[Ocm, Bnetza, float]]:
    pairs = []
    for o in ocm:
        for b in bnetza:
            dist = haversine_m(o.lat, o.lon, b.lat, b.lon)
            if dist <= RADIUS_M:
                pairs.append((o, b, dist))
    pairs.sort(key=lambda t: (t[0].id, t[1].line))
    return pairs


def describe(o: Ocm, b: Bnetza, dist: float, d: Decision) -> str:
    return (
        f"--- ocm {o.id} x line {b.line}  {dist:.1f} m  [{d.category}] {d.note}\n"
        f"  OCM   : {o.title!r} | {o.line1!r} | {o.line2!r} | {o.postcode} | {o.operator} | "
        f"pts {o.points} | {o.status} | {o.plugs}\n"
        f"  BNetzA: {b.street!r} | {b.postcode} | {b.operator} | pts {b.points} | "
        f"{b.power_kw} kW | {b.plugs}\n"
        f"  parsed: {o.addr.show()}  <->  {b.addr.show()}"
    )


def build(
    ocm_path: Path, bnetza_path: Path, manual_path: Path
) -> tuple[str, dict[str, int], list[str]]:
    ocm, bnetza = load_ocm(ocm_path), load_bnetza(bnetza_path)
    manual = load_manual(manual_path)
    used: set[tuple[int, int]] = set()
    rows, todo = [], []
    counts: dict[str, int] = {}
    for o, b, dist in candidates(ocm, bnetza):
        d = decide(o, b, dist)
        key = (o.id, b.line)
        rule, label, note = d.category, d.label, d.note
        if key in manual:
            used.add(key)
            m_label, m_note = manual[key]
            if label is not None and m_label == label:  # a rule decision checked by hand
                note = f"{d.note}; checked by hand: {m_note}"
            elif label is not None:  # a manual override of a rule decision
                rule = "manual"
                note = f"override of {d.category} ({d.label}): {m_note}"
            elif rule != "r3_corner":
                rule = "manual"
                note = m_note
            else:
                note = m_note
            label = m_label
        if label is None:
            todo.append(describe(o, b, dist, d))
            continue
        counts[rule] = counts.get(rule, 0) + 1
        rows.append([o.id, b.line, f"{dist:.1f}", label, rule, note])
    stale = sorted(set(manual) - used)
    if stale:
        raise SystemExit(f"{manual_path}: rows for pairs that are not candidates: {stale}")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIELDS)
    w.writerows(rows)
    return buf.getvalue(), counts, todo


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ocm", type=Path, default=OCM_FILE)
    ap.add_argument("--bnetza", type=Path, default=BNETZA_FILE)
    ap.add_argument("--manual", type=Path, default=MANUAL_FILE)
    ap.add_argument("--out", type=Path, default=OUT_FILE)
    ap.add_argument("--todo", action="store_true", help="print undecided pairs, write nothing")
    ap.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    args = ap.parse_args(argv)

    text, counts, todo = build(args.ocm, args.bnetza, args.manual)
    if args.todo:
        print("\n".join(todo))
        print(f"{len(todo)} undecided pairs", file=sys.stderr)
        return 0
    if todo:
        print("\n".join(todo), file=sys.stderr)
        print(f"{len(todo)} pairs need a row in {args.manual}", file=sys.stderr)
        return 1
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{args.out} differs", file=sys.stderr)
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    total = sum(counts.values())
    print(f"wrote {args.out} ({total} pairs)", file=sys.stderr)
    for rule in sorted(counts):
        print(f"  {rule:18s} {counts[rule]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
