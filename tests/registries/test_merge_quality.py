"""Precision and recall of the merge on the labelled Berlin sample (issue 12): Open Charge Map
against the BNetzA register, labelled without the merge code (tests/registries/labels)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import psycopg

from app.store import Store
from ingest.registries import Record, bnetza
from ingest.registries.importer import import_files

ROOT = Path(__file__).resolve().parents[2]
BERLIN = ROOT / "fixtures" / "registries" / "berlin"
LABELS = Path(__file__).parent / "labels" / "berlin_ocm_bnetza.csv"
PRECISION_FLOOR = 0.97
RECALL_FLOOR = 0.90


def _labels() -> dict[tuple[str, str], str]:
    """(OCM record id, BNetzA record id) → same | different, at site level: a BNetzA site (the
    reader's record, which may hold several rows) is the same as a POI when one of its rows is."""
    site_of_line = {
        line: item.record_id
        for item in bnetza.read([BERLIN / "netzagentur_final.csv"])
        if isinstance(item, Record)
        for line in item.lines
    }
    out: dict[tuple[str, str], str] = {}
    with LABELS.open(newline="") as f:
        for row in csv.DictReader(f):
            site = site_of_line.get(int(row["bnetza_line"]))
            if site is None:
                continue
            pair = (f"OCM-{row['ocm_id']}", site)
            if row["label"] == "same" or pair not in out:
                out[pair] = row["label"]
    return out


async def test_merge_precision_and_recall_on_berlin(store: Store, clean_db: str) -> None:
    await import_files(store, "ocm", [BERLIN / "openchargemap_final.json"], merge=False)
    await import_files(store, "bnetza", [BERLIN / "netzagentur_final.csv"])
    with psycopg.connect(clean_db) as conn:
        rows = conn.execute(
            """
            SELECT n.name, l.ocpi_id_raw, coalesce(l.merged_into, l.id) AS site
            FROM locations l JOIN networks n ON n.id = l.network_id
            """
        ).fetchall()
    members: dict[int, dict[str, str]] = defaultdict(dict)
    for source, record_id, site in rows:
        members[site][source] = record_id
    predicted = {(m["ocm"], m["bnetza"]) for m in members.values() if len(m) == 2}
    labels = _labels()
    same = {pair for pair, label in labels.items() if label == "same"}
    true_positive = predicted & same
    precision = len(true_positive) / len(predicted)
    recall = len(true_positive) / len(same)
    false_merges = sorted(predicted - same)
    missed = sorted(same - predicted)
    print(
        f"\nBerlin sample: {len(predicted)} merged pairs, {len(same)} labelled same; "
        f"precision {precision:.3f}, recall {recall:.3f}\n"
        f"false merges: {false_merges}\nmissed: {missed}"
    )
    assert precision >= PRECISION_FLOOR, false_merges
    assert recall >= RECALL_FLOOR, missed
