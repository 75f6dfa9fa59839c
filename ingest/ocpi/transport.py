"""OCPI transport rules shared by our receiver endpoints, our client and the sandbox peer
(ocpi.md §1): versions, envelope, status codes, timestamps, the Authorization header."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

# Highest first: the handshake picks the first one both sides support (ocpi.md §2.1).
SUPPORTED_VERSIONS: Final = ("2.3.0", "2.2.1", "2.2", "2.1.1")

SUCCESS: Final = 1000
CLIENT_ERROR: Final = 2000
INVALID_PARAMETERS: Final = 2001
NOT_ENOUGH_INFORMATION: Final = 2002
UNKNOWN_LOCATION: Final = 2003
SERVER_ERROR: Final = 3000
UNABLE_TO_USE_CLIENT_API: Final = 3001
UNSUPPORTED_VERSION: Final = 3002
NO_MATCHING_ENDPOINTS: Final = 3003


class Envelope(msgspec.Struct, omit_defaults=True):
    status_code: int
    timestamp: str
    data: Any = None
    status_message: str | None = None


class ReceivedEnvelope(msgspec.Struct):
    """An envelope as a peer sends it: ``data`` kept raw, decoded by whoever needs it."""

    status_code: int
    timestamp: str | None = None
    data: msgspec.Raw = msgspec.Raw(b"null")
    status_message: str | None = None

    def decoded_data(self) -> Any:
        return msgspec.json.decode(self.data) if self.data else None


_envelope_decoder = msgspec.json.Decoder(ReceivedEnvelope)
envelope_encoder = msgspec.json.Encoder(decimal_format="number")


def format_timestamp(value: datetime | None = None) -> str:
    """Always UTC with ``Z`` (ocpi.md §6 P13): ``2015-06-29T20:39:09Z`` or with milliseconds."""
    moment = (value or datetime.now(UTC)).astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(data: Any = None, status_code: int = SUCCESS, message: str | None = None) -> Envelope:
    return Envelope(
        status_code=status_code,
        timestamp=format_timestamp(),
        data=data,
        status_message=message or ("Success" if status_code == SUCCESS else None),
    )


def decode_envelope(body: bytes) -> ReceivedEnvelope:
    return _envelope_decoder.decode(body)


def is_22_or_later(version: str | None) -> bool:
    return version is not None and version != "2.1.1" and not version.startswith(("2.0", "2.1"))


def token_candidates(authorization: str | None) -> list[str]:
    """Tokens an ``Authorization: Token …`` header may carry (ocpi.md §1.3, P1).

    2.2+ sends Base64 of the token, 2.1.1 (and many 2.2 peers) the raw token, and a raw token can
    itself look like Base64: both readings are tried.
    """
    if not authorization:
        return []
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "token" or not value.strip():
        return []
    raw = value.strip()
    candidates = [raw]
    try:
        padded = raw + "=" * (-len(raw) % 4)
        decoded = base64.b64decode(padded, validate=True).decode("ascii").strip()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return candidates
    if decoded and decoded.isprintable() and decoded != raw:
        candidates.append(decoded)
    return candidates


def authorization_header(token: str, encoding: str) -> str:
    if encoding == "raw":
        return f"Token {token}"
    return "Token " + base64.b64encode(token.encode()).decode()


def default_auth_encoding(version: str | None) -> str:
    return "base64" if is_22_or_later(version) else "raw"


# ---- message routing (2.2+, ocpi.md §1.9) ----------------------------------------------------
# On every request and response of a functional module (locations, tariffs, …), never on the
# configuration modules (versions, credentials, hubclientinfo).
FUNCTIONAL_MODULES: Final = frozenset(
    {"locations", "tariffs", "sessions", "cdrs", "tokens", "commands", "chargingprofiles"}
)


def routing_headers(
    from_party: tuple[str, str], to_party: tuple[str, str] | None
) -> dict[str, str]:
    """``OCPI-from-*`` (the sending party) and ``OCPI-to-*`` (the party addressed)."""
    headers = {"OCPI-from-country-code": from_party[0], "OCPI-from-party-id": from_party[1]}
    if to_party is not None:
        headers["OCPI-to-country-code"] = to_party[0]
        headers["OCPI-to-party-id"] = to_party[1]
    return headers


def header_party(headers: Any, direction: str) -> tuple[str, str] | None:
    """The (country code, party id) of a request's ``OCPI-{direction}-*`` headers, if both are
    there (upper-cased: CiString)."""
    cc = headers.get(f"ocpi-{direction}-country-code")
    pid = headers.get(f"ocpi-{direction}-party-id")
    if not cc or not pid:
        return None
    return str(cc).strip().upper(), str(pid).strip().upper()
