"""Open registries (issue 12): national and community charge-point registers, read into the
same model as OCPI.

Each source module (``afdc``, ``bnetza``, ``ukncr``, ``ocm``) is pure: it reads its files and
yields, per site, either a ``Record`` (the site as an OCPI 2.2.1 Location object, which then
goes through the same normalise → quarantine → apply path as a pulled page) or a ``Rejected``
(a row that cannot be used, with a reason an operator can read). One bad row never costs the
rows around it. What a source does not say is left out of the OCPI object (connector standard,
power, EVSE count), so that the normaliser reads it as ``UNKNOWN``: nothing is invented.

A site's pricing text (issue 13: AFDC ``EV Pricing``, OCM ``UsageCost``, the UK NCR payment and
parking-fee columns; BNetzA has none) rides along on its ``Record``, read by
``app.price.registry_text`` into a tariff or kept with the reason it could not be read; the
importer stores either as an OCPI Tariff of the registry's party.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from app.price.registry_text import RegistryPricing

# Each source's name, licence and attribution: app.domain.sources.REGISTRIES. Registry records
# carry no live status: every EVSE is UNKNOWN unless the registry says it is planned or removed.
RAW_TEXT_MAX = 4000


@dataclass(frozen=True)
class Record:
    record_id: str  # unique within the source: its own id, or a documented stable key
    location: dict[str, Any]  # an OCPI 2.2.1 Location object (JSON-able)
    file: str  # the file's name
    lines: tuple[int, ...]  # 1-based line numbers (OCM: 0-based array indexes) it came from
    pricing: RegistryPricing | None = None  # None: the row has no pricing text at all
    currency: str | None = None  # what the text was read in (ISO 4217), with ``pricing``


@dataclass(frozen=True)
class Rejected:
    file: str
    lines: tuple[int, ...]
    record_id: str | None
    reason: str  # names what is wrong, e.g. "latitude '' is not a number"
    raw_text: str  # the row as in the file, at most RAW_TEXT_MAX characters


class Reader(Protocol):
    def __call__(self, paths: list[Path]) -> Iterator[Record | Rejected]: ...
