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
        """``CC*PID`` (also ``CC-PID`` or ``CCPID``), as operators type it."""
        cleaned = text.strip().upper()
        for sep in ("*", "-", " "):
            if sep in cleaned:
                cc, pid = cleaned.split(sep, 1)
                break
        else:
            cc, pid = cleaned[:2], cleaned[2:]
        if len(cc) != 2 or not cc.isalpha() or not 1 <= len(pid) <= 3 or not pid.isalnum():
            raise ValueError(f"party must look like CC*PID (e.g. NL*FLA), got {text!r}")
        return cls(cc, pid)

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id}"
