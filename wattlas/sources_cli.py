"""``wattlas import`` (a registry's files in) and ``wattlas sources`` (what each source holds,
and why a record was or was not merged)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from app.domain.matching import MAX_DISTANCE_M, SAME_SITE_SCORE
from app.domain.sources import REGISTRIES
from app.settings import Settings
from app.store import Store, sites, source_imports
from ingest.registries.importer import ImportReport, import_files
from wattlas import context

BUNDLED = Path(__file__).resolve().parent.parent / "fixtures" / "registries"
REGISTRY_FILES: dict[str, tuple[str, ...]] = {
    # What `make run` imports on its first start (fixtures/registries, licences in LICENSES.md).
    "afdc": (
        "us_afdc_elec_NY_full75cols_2025_jingniz.csv",
        "us_afdc_elec_WA_full75cols_2025_andreagafer98.csv",
        "us_afdc_stations_min_2022_ghhyc.csv",
    ),
    "bnetza": ("Ladesaeulenregister_2019-07-19.csv",),
    "ukncr": ("national-charge-point-registry_stephenbrowett_2022.csv",),
    "ocm": ("berlin/openchargemap_final.json",),
}


def _bar(source: str) -> Any:
    """The progress line: rows read so far (called after every batch)."""

    def show(rows: int) -> None:
        sys.stderr.write(f"\r{source}: {rows:,} rows read")
        sys.stderr.flush()

    return show


async def run_import(
    settings: Settings, source: str, paths: list[Path], *, progress: bool, force: bool = False
) -> ImportReport:
    async with Store.from_settings(settings, name="wattlas-import", max_size=2) as store:
        report = await import_files(
            store, source, paths, on_progress=_bar(source) if progress else None, force=force
        )
    if progress:
        sys.stderr.write("\n")
    return report


def format_pricing(p: source_imports.PricingFacts) -> str:
    return (
        f"{p.sites_with_text:,} sites with pricing text: {p.parsed:,} read into tariffs, "
        f"{p.unparsed:,} kept unparsed"
    )


def format_report(r: ImportReport) -> str:
    if r.unchanged_files:
        return (
            f"{r.source}: {', '.join(r.files)} unchanged since the last import (SHA-256): "
            "nothing to do (--force reads them again)"
        )
    lines = [
        f"{r.source}: {r.rows:,} rows → {r.records:,} records: {r.accepted:,} written, "
        f"{r.unchanged:,} unchanged, {r.skipped_older:,} older than stored; "
        f"{r.quarantined:,} quarantined; {r.visible:,} shown; {r.notes:,} notes; {r.seconds:.1f} s"
    ]
    for reason, count in r.reasons.most_common():
        lines.append(f"    rejected {count:6,} × {reason}")
    lines.append("    pricing: " + format_pricing(r.pricing))
    if r.tariffs:
        lines.append(
            f"    tariffs: {r.tariffs:,} (identical texts share one): {r.tariffs_written:,} "
            f"written, {r.tariffs_unchanged:,} unchanged, {r.tariffs_older:,} older than stored"
        )
    for reason, count in r.pricing.top_reasons():
        lines.append(f"    unparsed {count:6,} × {reason}")
    if r.merge is not None and r.merge.busy:
        lines.append("    sites: another process is merging; this import's sites join its next run")
    elif r.merge is not None:
        m = r.merge
        lines.append(
            f"    sites: {m.records:,} records, {m.candidates:,} candidate pairs, {m.sites:,} "
            f"sites of several sources, {m.merged:,} records merged ({m.changed:,} changed) "
            f"in {m.seconds:.1f} s"
        )
    return "\n".join(lines)


@click.command("import")
@click.argument("source", type=click.Choice(sorted(REGISTRIES)))
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--force", is_flag=True, help="Read files identical to the last import again.")
def import_command(source: str, files: tuple[Path, ...], as_json: bool, force: bool) -> None:
    """Import a registry's files (then merge sites across sources)."""
    settings = context.resolve_settings()
    progress = not as_json and sys.stderr.isatty()
    report = asyncio.run(run_import(settings, source, list(files), progress=progress, force=force))
    if as_json:
        click.echo(msgspec.json.encode(report).decode())
    else:
        click.echo(format_report(report))


@click.group("sources")
def sources_group() -> None:
    """Where the data comes from: every source's counts, and merges explained."""


@sources_group.command("list")
def list_sources() -> None:
    """Every source with its licence and record counts."""
    settings = context.resolve_settings()

    async def work() -> list[source_imports.SourceCounts]:
        async with Store.from_settings(settings, name="wattlas-cli", max_size=1) as store:
            return await source_imports.counts(store)

    for s in asyncio.run(work()):
        meta = REGISTRIES.get(s.name) if s.kind == "registry" else None
        click.echo(
            f"{s.name if meta else 'ocpi:' + s.name:24} {s.locations:8,} records "
            f"{s.visible:8,} shown {s.merged:7,} merged {s.quarantined:6,} quarantined  "
            f"{meta.licence if meta else 'OCPI'}"
        )
        if (pricing := s.last_import_pricing) is not None:  # the last import's
            reasons = "; ".join(f"{n:,} × {reason}" for reason, n in pricing.top_reasons(3))
            click.echo(f"{'':24} {format_pricing(pricing)}" + (f" ({reasons})" if reasons else ""))


@sources_group.command("import-bundled")
def import_bundled() -> None:
    """The registries bundled in fixtures/registries (what `wattlas run` imports on its first
    start; files unchanged since their last import are not read again)."""
    settings = context.resolve_settings()

    async def work() -> list[ImportReport]:
        reports = []
        async with Store.from_settings(settings, name="wattlas-import", max_size=2) as store:
            for source, names in REGISTRY_FILES.items():
                paths = [BUNDLED / name for name in names]
                reports.append(await import_files(store, source, paths, merge=False))
            if any(not r.unchanged_files for r in reports):
                reports[-1].merge = await sites.merge_sites(store)
        return reports

    for report in asyncio.run(work()):
        click.echo(format_report(report))


@sources_group.command("merge")
def merge() -> None:
    """Recompute every merge (runs after each import and full pull)."""
    settings = context.resolve_settings()

    async def work() -> sites.MergeReport:
        async with Store.from_settings(settings, name="wattlas-cli", max_size=1) as store:
            return await sites.merge_sites(store)

    click.echo(msgspec.json.encode(asyncio.run(work())).decode())


@sources_group.command("explain")
@click.argument("location_id")
def explain(location_id: str) -> None:
    """A record's merge candidates, their scores and why."""
    settings = context.resolve_settings()

    async def work() -> sites.Explanation | None:
        async with Store.from_settings(settings, name="wattlas-cli", max_size=1) as store:
            return await sites.explain(store, location_id)

    found = asyncio.run(work())
    if found is None:
        click.echo(f"no location {location_id!r} (or it is hidden for another reason)", err=True)
        sys.exit(2)
    click.echo(format_explanation(found))


def format_explanation(e: sites.Explanation) -> str:
    r = e.record
    lines = [
        f"{e.location_id}  {r.source} {r.record_id}: {r.name or '(no name)'}, "
        f"{r.address or '(no address)'} {r.postal_code or ''}"
    ]
    lines.append(
        f"  merged into {e.merged_into}" if e.merged_into else "  not merged into another record"
    )
    if not e.candidates:
        lines.append(f"  no record of another source within {MAX_DISTANCE_M:.0f} m")
    for c in e.candidates:
        verdict = "same site" if c.match.same_site else "not the same site"
        lines.append(
            f"  {c.location_id}  {c.record.source} {c.record.record_id}: "
            f"{c.record.name or '(no name)'}, {c.record.address or '(no address)'} — "
            f"score {c.match.score:+.2f} (same site from {SAME_SITE_SCORE:+.2f}): {verdict}"
            + (f"; merged into {c.merged_into}" if c.merged_into else "")
        )
        for ev in c.match.evidence:
            lines.append(f"      {ev.name:10} {ev.points:+.2f}  {ev.reason}")
    return "\n".join(lines)
