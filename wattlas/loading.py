"""The ``load`` and ``quarantine`` commands: files in, summaries out."""

from __future__ import annotations

import sys
from pathlib import Path

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store, quarantine
from ingest.loader import LoadReport, load_file, reason_class


def _progress_printer(name: str):  # type: ignore[no-untyped-def]
    def show(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\r{name[:40]:40} [{bar}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


async def load_files(
    settings: Settings,
    files: list[Path],
    *,
    party: str | None = None,
    network_name: str | None = None,
    progress: bool = False,
) -> list[LoadReport]:
    parsed_party = Party.parse(party) if party else None
    reports = []
    async with Store.from_settings(settings, name="wattlas-load", max_size=2) as store:
        for path in files:
            report = await load_file(
                store,
                path,
                party=parsed_party,
                network_name=network_name,
                on_progress=_progress_printer(path.name) if progress else None,
            )
            reports.append(report)
    return reports


def format_reports(reports: list[LoadReport]) -> str:
    lines = [
        f"{'file':44} {'objects':>7} {'accepted':>8} {'visible':>7} {'EVSEs':>6} "
        f"{'quarantined':>11} {'notes':>6} {'s':>6}"
    ]
    for r in reports:
        lines.append(
            f"{r.file[:44]:44} {r.objects:7} {r.accepted + r.unchanged + r.stale:8} "
            f"{r.visible_locations:7} {r.evses:6} {r.quarantined:11} {r.notes:6} {r.seconds:6.2f}"
        )
        if r.error:
            lines.append(f"    error: {r.error}")
        if r.unchanged or r.stale:
            lines.append(
                f"    {r.unchanged} unchanged since the last load, {r.stale} older than stored"
            )
        for reason, count in r.reasons.most_common():
            lines.append(f"    rejected {count:5} × {reason}")
    return "\n".join(lines)


async def show_quarantine(
    settings: Settings, network_name: str | None, limit: int, notes: bool, summary: bool
) -> str:
    severity = "note" if notes else "rejected"
    async with Store.from_settings(settings, name="wattlas-cli", max_size=1) as store:
        rows = await quarantine.entries(
            store, severity=severity, network=network_name, limit=None if summary else limit
        )
    if summary:
        counts: dict[tuple[str, str], int] = {}
        for row in rows:
            key = (row["network"] or "?", f"{row['object_kind']}: {reason_class(row['reason'])}")
            counts[key] = counts.get(key, 0) + 1
        return (
            "\n".join(
                f"{count:6}  {network:24} {reason}"
                for (network, reason), count in sorted(
                    counts.items(), key=lambda kv: (kv[0][0], -kv[1])
                )
            )
            or "quarantine is empty"
        )
    return (
        "\n".join(
            f"{row['received_at']:%Y-%m-%d %H:%M:%S}  {row['network'] or '?':20} "
            f"{row['object_kind']:9} {row['object_key'] or '-':40} {row['reason']}"
            for row in rows
        )
        or "quarantine is empty"
    )
