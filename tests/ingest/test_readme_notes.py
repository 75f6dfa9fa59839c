"""The README's table of the bundled real data tells the truth about repair notes (issue 16).

Its column "most common repair notes (kept, with a note)" names, per file, the most common
note reasons with their counts. Each bundled file is loaded here into an empty database, as the
manifest says, and the notes recorded in the quarantine (severity 'note') are counted by reason
class; the README's entries must be exactly the most common of them."""

from __future__ import annotations

import json
import re
from collections import Counter

import psycopg
import pytest

from app.domain.parties import Party
from app.store import Store
from ingest.loader import load_file, reason_class
from tests.conftest import OCPI_FIXTURES, ROOT

MANIFEST = json.loads((OCPI_FIXTURES / "manifest.json").read_text())["networks"]
NOTES_COLUMN = "most common repair notes (kept, with a note)"
SHOWN = 3  # the README names up to three per file
# Entries are "N kind: reason class", joined by "; " (a reason class may hold "; " itself).
_ENTRY_SPLIT = re.compile(r"; (?=\d+ [a-z]+: )")
_ENTRY = re.compile(r"(\d+) ([a-z]+: .+)")


def readme_notes() -> dict[str, list[tuple[int, str]]]:
    """file → the (count, "kind: reason class") entries of the README's notes column."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## The bundled real data", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]  # the OCPI table (the registries' comes next)
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|")
    ]
    header, table = rows[0], [r for r in rows[2:] if r[0].startswith("`")]
    column = header.index(NOTES_COLUMN)
    out = {}
    for row in table:
        assert len(row) == len(header), row
        cell = row[column]
        entries = [] if cell == "—" else _ENTRY_SPLIT.split(cell)
        parsed = []
        for entry in entries:
            match = _ENTRY.fullmatch(entry)
            assert match, f"README entry {entry!r} is not 'N kind: reason'"
            parsed.append((int(match[1]), match[2]))
        out[row[0].strip("`")] = parsed
    return out


README = readme_notes()


def test_the_readme_table_has_a_row_for_every_bundled_file() -> None:
    assert sorted(README) == sorted(entry["file"] for entry in MANIFEST)


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["name"] for e in MANIFEST])
async def test_readme_names_the_most_common_repair_notes(
    entry: dict[str, str], store: Store, sync_conn: psycopg.Connection
) -> None:
    party = Party.parse(entry["party"]) if entry.get("party") else None
    path = OCPI_FIXTURES / entry["file"]
    await load_file(store, path, party=party, network_name=entry["name"])
    recorded = Counter(
        f"{kind}: {reason_class(reason)}"
        for kind, reason in sync_conn.execute(
            "SELECT object_kind, reason FROM quarantine WHERE severity = 'note' AND source = %s",
            (f"file:{entry['file']}",),
        ).fetchall()
    )
    shown = README[entry["file"]]
    # Each named reason with the count recorded for it, most common first...
    assert shown == [(recorded[reason], reason) for _, reason in shown]
    assert [n for n, _ in shown] == sorted((n for n, _ in shown), reverse=True)
    # ...as many as there are, up to three, and none left out that is more common than those.
    assert len(shown) == min(SHOWN, len(recorded)), recorded.most_common()
    cut = min((n for n, _ in shown), default=0)
    named = {reason for _, reason in shown}
    assert [(n, r) for r, n in recorded.most_common() if r not in named and n > cut] == []
