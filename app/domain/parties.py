"""A party: country code + party id (OCPI CredentialsRole), the unit of ownership (one network
owns a party; architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Party:
    country_code: str
    party_id: str
    role: str = "CPO"
    name: str | None = None

    @classmethod
    def parse(cls, text: str) -> Party:
        """``CC*PID`` (also ``CC-PID``), as operators type it. ``NLXYZ`` is refused: whether it
        means NL*XYZ or a typo cannot be told (issue 10)."""
        cleaned = text.strip().upper()
        cc, pid = "", ""
        for sep in ("*", "-"):
            if sep in cleaned:
                cc, pid = (part.strip() for part in cleaned.split(sep, 1))
                break
        if len(cc) != 2 or not cc.isalpha() or not 1 <= len(pid) <= 3 or not pid.isalnum():
            raise ValueError(f"party must look like CC*PID (e.g. NL*FLA), got {text!r}")
        return cls(cc, pid)

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id}"
