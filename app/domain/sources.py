"""Where data comes from (issue 12): every source an answer can name, with the licence and the
attribution text its licence asks a map to show.

An OCPI network is ``ocpi:<network name>``: its data is the operator's own, shared over OCPI
roaming. A registry is named by itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceMeta:
    name: str  # afdc | bnetza | ukncr | ocm
    title: str
    country_code: str | None  # the OCPI party of every record (None: per record, e.g. OCM)
    party_id: str
    licence: str
    attribution: str  # the text a map must show
    url: str


REGISTRIES: dict[str, SourceMeta] = {
    s.name: s
    for s in (
        SourceMeta(
            "afdc", "US DOE/NREL Alternative Fuels Data Center", "US", "AFD",
            "US government data, free to use (public domain)",
            "Data: U.S. DOE / NREL Alternative Fuels Data Center", "https://afdc.energy.gov/",
        ),
        SourceMeta(
            "bnetza", "Bundesnetzagentur Ladesäulenregister", "DE", "BNA", "CC BY 4.0",
            "Ladesäulenregister © Bundesnetzagentur (CC BY 4.0)",
            "https://www.bundesnetzagentur.de/ladesaeulenregister",
        ),
        SourceMeta(
            "ukncr", "UK National Chargepoint Registry", "GB", "NCR",
            "Open Government Licence v3.0",
            "Contains public sector information licensed under the Open Government Licence "
            "v3.0 (National Chargepoint Registry)",
            "https://www.gov.uk/guidance/find-and-use-data-on-public-electric-vehicle-chargepoints",
        ),
        SourceMeta(
            "ocm", "Open Charge Map", None, "OCM", "CC BY-SA 4.0",
            "© Open Charge Map contributors (CC BY-SA 4.0)", "https://openchargemap.org/",
        ),
    )
}  # fmt: skip

OCPI_LICENCE = "the operator's data, shared over OCPI roaming"


def source_name(network_name: str, kind: str) -> str:
    return network_name if kind == "registry" else f"ocpi:{network_name}"


def licence_of(network_name: str, kind: str) -> str:
    meta = REGISTRIES.get(network_name) if kind == "registry" else None
    return meta.licence if meta is not None else OCPI_LICENCE
