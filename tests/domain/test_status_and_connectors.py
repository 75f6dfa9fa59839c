from __future__ import annotations

import pytest

from app.domain.connectors import (
    UnknownConnector,
    normalise_power_type,
    normalise_standard,
    resolve_connector_filter,
)
from app.domain.status import normalise_status, status_bucket


@pytest.mark.parametrize(
    ("status", "bucket"),
    [
        ("AVAILABLE", "available"),
        ("CHARGING", "occupied"),
        ("BLOCKED", "occupied"),
        ("RESERVED", "occupied"),
        ("INOPERATIVE", "out_of_service"),
        ("OUTOFORDER", "out_of_service"),
        ("PLANNED", "planned"),
        ("UNKNOWN", "unknown"),
        ("REMOVED", "hidden"),
    ],
)
def test_buckets_follow_the_architecture_page(status: str, bucket: str) -> None:
    assert status_bucket(status) == bucket


def test_status_is_trimmed_and_upper_cased_and_unknown_values_are_noted() -> None:
    assert normalise_status("CHARGING ") == ("CHARGING", None)  # powergo
    assert normalise_status("available") == ("AVAILABLE", None)
    assert normalise_status("OUT_OF_ORDER")[0] == "OUTOFORDER"
    status, note = normalise_status("BROKEN")
    assert (
        status == "UNKNOWN"
        and note == "EVSE status 'BROKEN' is not an OCPI Status; read as UNKNOWN"
    )


def test_connector_standards_from_real_feeds() -> None:
    assert normalise_standard("IEC_62196_T2_COMBO") == ("IEC_62196_T2_COMBO", None)
    assert normalise_standard("IEC_60309_2_THREE_32") == ("IEC_60309_2_three_32", None)
    assert normalise_standard("Type 2 outlet")[0] == "IEC_62196_T2"
    assert normalise_standard("GB/T (DC)")[0] == "GBT_DC"
    assert normalise_standard("SAE_J3400") == ("SAE_J3400", None)  # 2.3.0 value in a 2.2.x feed
    assert normalise_standard("MCS") == ("MCS", None)
    assert normalise_standard("WIRELESS")[0] == "UNKNOWN"
    assert normalise_standard(None)[0] == "UNKNOWN"


def test_power_type_case_is_repaired() -> None:
    assert normalise_power_type("ac_3_phase") == ("AC_3_PHASE", None)
    assert normalise_power_type("AC_3_Phase") == ("AC_3_PHASE", None)
    assert normalise_power_type("")[0] == "UNKNOWN"


def test_api_aliases_expand_to_ocpi_standards() -> None:
    assert resolve_connector_filter(["ccs2", "chademo"]) == ("IEC_62196_T2_COMBO", "CHADEMO")
    assert resolve_connector_filter(["nacs"]) == ("SAE_J3400", "TESLA_S")
    assert resolve_connector_filter(["gbt"]) == ("GBT_AC", "GBT_DC")
    assert resolve_connector_filter(["iec_62196_t1"]) == ("IEC_62196_T1",)
    with pytest.raises(UnknownConnector):
        resolve_connector_filter(["ccs3"])
