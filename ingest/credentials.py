"""Connecting networks: the credentials handshake in both directions, static tokens, revocation
(ocpi.md §2, P1-P4).

Tokens: the one a network presents to us is only ever verified, so only its hash is kept; the
one we present to it must be sent, so it is kept as is (``networks.outbound_token``).
- We initiate (``networks add``): their token A → we send our new token B → they answer with C,
  which we use from then on; they call us with B.
- They initiate (``networks invite``): we issue token A → they POST their token B → we answer
  with our new token C, which they use from then on; we call them with B.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import httpx

from app.domain.parties import Party
from app.logs import get_logger
from app.settings import Settings
from app.store import Store, Tx, networks
from app.store.networks import NetworkAuth
from ingest.client import OcpiClient, OcpiError, RetryPolicy, Unauthorized
from ingest.ocpi import transport

log = get_logger(__name__)

# The modules we implement, per version: credentials (both ways), Locations and Tariffs receivers,
# and (2.2+) the HubClientInfo receiver, where a hub says which parties it routes.
OUR_MODULES = (
    ("credentials", "SENDER"),
    ("locations", "RECEIVER"),
    ("tariffs", "RECEIVER"),
    ("hubclientinfo", "RECEIVER"),
)
# What a downstream platform (a subscriber, issue 14) sees instead: we are its hub, sending our
# aggregated Locations and Tariffs (``ingest.receiver.sender``, under ``/ocpi/{version}/hub``).
SUBSCRIBER_MODULES = (
    ("credentials", "SENDER", "credentials"),
    ("locations", "SENDER", "hub/locations"),
    ("tariffs", "SENDER", "hub/tariffs"),
)


class HandshakeError(RuntimeError):
    def __init__(self, message: str, status_code: int = transport.UNABLE_TO_USE_CLIENT_API):
        super().__init__(message)
        self.status_code = status_code


# ---- what we publish ---------------------------------------------------------------------------
def versions_url(settings: Settings) -> str:
    return f"{settings.base_url}/ocpi/versions"


def our_versions(settings: Settings) -> list[dict[str, str]]:
    return [
        {"version": v, "url": f"{settings.base_url}/ocpi/{v}"} for v in transport.SUPPORTED_VERSIONS
    ]


def our_version_details(
    settings: Settings, version: str, *, subscriber: bool = False
) -> dict[str, Any]:
    """Our endpoints for this version: a network's receivers, or a subscriber's senders."""
    if subscriber:
        return {
            "version": version,
            "endpoints": [
                {"identifier": module, "url": f"{settings.base_url}/ocpi/{version}/{path}"}
                | ({"role": role} if transport.is_22_or_later(version) else {})
                for module, role, path in SUBSCRIBER_MODULES
            ],
        }
    endpoints = []
    for module, role in OUR_MODULES:
        endpoint = {"identifier": module, "url": f"{settings.base_url}/ocpi/{version}/{module}"}
        if transport.is_22_or_later(version):
            endpoint["role"] = role
        elif module == "hubclientinfo":  # no such module in 2.1.1
            continue
        endpoints.append(endpoint)
    return {"version": version, "endpoints": endpoints}


def our_credentials(
    settings: Settings, token: str, version: str, *, subscriber: bool = False
) -> dict[str, Any]:
    """To a network we are a navigation service provider; to a subscriber, its hub."""
    business = {"name": settings.ocpi_business_name}
    if not transport.is_22_or_later(version):
        return {
            "token": token,
            "url": versions_url(settings),
            "business_details": business,
            "party_id": settings.ocpi_party_id,
            "country_code": settings.ocpi_country_code,
        }
    return {
        "token": token,
        "url": versions_url(settings),
        "roles": [
            {
                # A navigation service provider: "like an eMSP, probably only interested in
                # Location information" (ocpi.md §1.1).
                "role": "HUB" if subscriber else "NSP",
                "business_details": business,
                "party_id": settings.ocpi_party_id,
                "country_code": settings.ocpi_country_code,
            }
        ],
    }


# ---- reading theirs ----------------------------------------------------------------------------
@dataclass
class PeerCredentials:
    token: str
    versions_url: str
    parties: list[Party]
    business_details: dict[str, Any] | None
    # 2.3.0 ``hub_party_id``: a hub names itself, and its roles list every party it reaches.
    hub_party: Party | None = None

    @property
    def owned(self) -> list[Party]:
        """The parties this network owns: a 2.3.0 hub only itself, any other all it lists."""
        if self.hub_party is None:
            return self.parties
        hub = self.hub_party
        listed = next((p for p in self.parties if _same_party(p, hub)), None)
        return [Party(hub.country_code, hub.party_id, "HUB", listed.name if listed else None)]

    @property
    def routed(self) -> list[Party]:
        """The parties a 2.3.0 hub routes for: writable through it while no network owns them
        (architecture.md, one owner per party)."""
        hub = self.hub_party
        if hub is None:
            return []
        return [p for p in self.parties if not _same_party(p, hub)]


def _same_party(a: Party, b: Party) -> bool:
    return (a.country_code, a.party_id) == (b.country_code, b.party_id)


def parse_credentials(body: Any) -> PeerCredentials:
    """A Credentials object, 2.2+ (``roles``) or 2.1.1 (flat); ValueError names what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("credentials must be a JSON object")
    token, url = body.get("token"), body.get("url")
    if not isinstance(token, str) or not token.strip():
        raise ValueError("credentials without token")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError("credentials without a versions url")
    parties: list[Party] = []
    business: dict[str, Any] | None = None
    roles = body.get("roles")
    if isinstance(roles, list):
        for role in roles:
            if not isinstance(role, dict):
                continue
            cc, pid = role.get("country_code"), role.get("party_id")
            if isinstance(cc, str) and isinstance(pid, str) and cc and pid:
                details = role.get("business_details")
                name = details.get("name") if isinstance(details, dict) else None
                parties.append(
                    Party(cc.upper(), pid.upper(), str(role.get("role") or "CPO").upper(), name)
                )
                business = business or (details if isinstance(details, dict) else None)
    else:
        cc, pid = body.get("country_code"), body.get("party_id")
        if isinstance(cc, str) and isinstance(pid, str) and cc and pid:
            details = body.get("business_details")
            business = details if isinstance(details, dict) else None
            parties.append(
                Party(cc.upper(), pid.upper(), "CPO", business.get("name") if business else None)
            )
    if not parties:
        raise ValueError("credentials name no party (country_code/party_id)")
    return PeerCredentials(
        token.strip(), url, parties, business, _hub_party(body.get("hub_party_id"))
    )


def _hub_party(value: Any) -> Party | None:
    """2.3.0 ``hub_party_id``: CiString(5), country code and party id concatenated (``NLHUB``)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    cleaned = value.strip().upper() if isinstance(value, str) else ""
    if not (
        len(cleaned) == 5 and cleaned.isascii() and cleaned[:2].isalpha() and cleaned[2:].isalnum()
    ):
        raise ValueError(f"hub_party_id {value!r} is not a country code and party id (e.g. NLHUB)")
    return Party(cleaned[:2], cleaned[2:], "HUB")


def pick_version(offered: Any) -> tuple[str, str]:
    """The highest version both sides support, and its details URL."""
    if not isinstance(offered, list):
        raise HandshakeError("versions endpoint did not return a list of versions")
    urls = {str(v.get("version")): v.get("url") for v in offered if isinstance(v, dict)}
    for version in transport.SUPPORTED_VERSIONS:
        url = urls.get(version)
        if isinstance(url, str):
            return version, url
    raise HandshakeError(
        f"no mutual OCPI version (they offer {sorted(urls)}, we speak "
        f"{list(transport.SUPPORTED_VERSIONS)})",
        transport.UNSUPPORTED_VERSION,
    )


def parse_endpoints(details: Any) -> list[dict[str, Any]]:
    if not isinstance(details, dict) or not isinstance(details.get("endpoints"), list):
        raise HandshakeError("version details without endpoints")
    return [
        {"identifier": e.get("identifier"), "role": e.get("role"), "url": e.get("url")}
        for e in details["endpoints"]
        if isinstance(e, dict) and isinstance(e.get("url"), str)
    ]


def endpoint_url(endpoints: list[dict[str, Any]], module: str, role: str = "SENDER") -> str | None:
    """Their URL for a module, found the way peers actually list them (ocpi.md §2.2).

    ``credentials`` by identifier alone: its role is not relevant (errata), and peers list it as
    SENDER or RECEIVER. Other modules: an endpoint with the role asked for first, else one with
    no role (2.1.1 has none; some 2.2 peers omit it). Identifiers compare case-blind (a peer bug
    seen in the wild: ``Locations``)."""
    wanted = module.lower()
    roleless: str | None = None
    for endpoint in endpoints:
        if str(endpoint.get("identifier") or "").lower() != wanted:
            continue
        their_role = endpoint.get("role")
        if wanted == "credentials" or str(their_role or "").upper() == role:
            return str(endpoint["url"])
        if their_role is None and roleless is None:
            roleless = str(endpoint["url"])
    return roleless


def describe_endpoints(endpoints: list[dict[str, Any]]) -> str:
    """What a peer listed, for error messages: ``locations SENDER, tariffs SENDER``."""
    listed = [
        " ".join(str(part) for part in (e.get("identifier"), e.get("role")) if part)
        for e in endpoints
    ]
    return ", ".join(listed) or "nothing"


def require_endpoint(
    endpoints: list[dict[str, Any]], module: str, role: str = "SENDER", *, version: str = ""
) -> str:
    """``endpoint_url`` or a HandshakeError (3003) saying what was looked for and what was found."""
    url = endpoint_url(endpoints, module, role)
    if url is None:
        wanted = module if module == "credentials" else f"{module} {role}"
        raise HandshakeError(
            f"their {version + ' ' if version else ''}version details list no {wanted} endpoint "
            f"(they list: {describe_endpoints(endpoints)})",
            transport.NO_MATCHING_ENDPOINTS,
        )
    return url


async def discover(
    token: str,
    versions_url_: str,
    *,
    version: str | None = None,
    http: httpx.AsyncClient | None = None,
) -> tuple[str, list[dict[str, Any]], str]:
    """GET their versions and the details of one version; returns (version, endpoints, auth).

    The token goes Base64-encoded (2.2+) or raw (2.1.1); the version's convention is tried first
    and the other on HTTP 401 (ocpi.md §1.3 recommendation, P1).
    """
    first = transport.default_auth_encoding(version) if version else "base64"
    last: Exception | None = None
    for encoding in (first, "raw" if first == "base64" else "base64"):
        try:
            offered = await _get(token, encoding, versions_url_, http)
            chosen, details_url = _details_url(offered, version)
            preferred = transport.default_auth_encoding(chosen)
            if preferred != encoding:
                # A lenient peer took the other encoding; use the chosen version's own if it can.
                try:
                    endpoints = parse_endpoints(await _get(token, preferred, details_url, http))
                    return chosen, endpoints, preferred
                except Unauthorized:
                    pass
            endpoints = parse_endpoints(await _get(token, encoding, details_url, http))
            return chosen, endpoints, encoding
        except Unauthorized as exc:
            last = exc
        except OcpiError as exc:
            raise HandshakeError(f"could not use their API: {exc}") from exc
    raise HandshakeError(f"their versions endpoint refused our token: {last}")


async def _get(token: str, encoding: str, url: str, http: httpx.AsyncClient | None) -> Any:
    retry = RetryPolicy(attempts=2, base_delay_s=0.2)
    async with OcpiClient(token, auth_encoding=encoding, http=http, retry=retry) as client:
        return await client.get_data(url)


def _details_url(offered: Any, version: str | None) -> tuple[str, str]:
    if version is None:
        return pick_version(offered)
    urls = {str(v.get("version")): v.get("url") for v in offered or [] if isinstance(v, dict)}
    details_url = urls.get(version)
    if not isinstance(details_url, str):
        raise HandshakeError(f"they do not offer version {version}", transport.UNSUPPORTED_VERSION)
    return version, details_url


# ---- they initiate -----------------------------------------------------------------------------
async def invite(store: Store, name: str, *, kind: str = "ocpi") -> str:
    """A network (or, ``kind="subscriber"``, a downstream platform) awaiting its credentials
    POST, and the one-time token A for it."""
    token_a = networks.generate_token()
    async with store.transaction() as tx:
        network_id = await networks.create_network(tx, name, kind=kind, status="INVITED")
        await networks.add_token(tx, network_id, token_a, "A")
    log.info("network.invited", network=name, kind=kind)
    return token_a


async def accept_registration(
    store: Store,
    settings: Settings,
    auth: NetworkAuth,
    version: str,
    body: Any,
    *,
    http: httpx.AsyncClient | None = None,
) -> dict[str, Any]:
    """Their POST (token A) or PUT (current token): fetch their endpoints with their token, store
    it, answer with a new token for them (ocpi.md §2.4-2.5). Every attempt is logged with its
    outcome, and a failure is kept on the network for ``networks list``."""
    try:
        ours = await _accept(store, settings, auth, version, body, http=http)
    except (ValueError, HandshakeError, OcpiError, networks.PartyOwned) as exc:
        log.warning(
            "network.registration_failed", network=auth.name, initiator="peer", error=str(exc)
        )
        await networks.record_registration(store, auth.name, initiator="peer", error=str(exc))
        raise
    await networks.record_registration(store, auth.name, initiator="peer", error=None)
    return ours


async def _accept(
    store: Store,
    settings: Settings,
    auth: NetworkAuth,
    version: str,
    body: Any,
    *,
    http: httpx.AsyncClient | None,
) -> dict[str, Any]:
    peer = parse_credentials(body)
    # A claim on another network's party is refused before anything is done for it. A
    # subscriber claims none: what it names is who it is, not what it may write.
    if not auth.subscriber:
        await networks.owned_elsewhere(store, auth.network_id, peer.owned)
    _, endpoints, encoding = await discover(
        peer.token, peer.versions_url, version=version, http=http
    )
    require_endpoint(endpoints, "credentials", version=version)
    new_token = networks.generate_token()
    async with store.transaction() as tx:
        await networks.revoke_tokens(tx, auth.network_id)
        await networks.add_token(tx, auth.network_id, new_token, "C")
        if not auth.subscriber:
            await _keep_parties(tx, auth.network_id, peer)
        await networks.update_registration(
            tx,
            auth.network_id,
            status="REGISTERED",
            ocpi_version=version,
            versions_url=peer.versions_url,
            endpoints=endpoints,
            outbound_token=peer.token,
            outbound_auth=encoding,
            business_details=peer.business_details,
        )
    log.info(
        "network.registered",
        network=auth.name,
        kind=auth.kind,
        version=version,
        initiator="peer",
        parties=[str(p) for p in peer.parties],
    )
    return our_credentials(settings, new_token, version, subscriber=auth.subscriber)


async def _keep_parties(tx: Tx, network_id: int, peer: PeerCredentials) -> None:
    """What they own, and what a 2.3.0 hub routes for (known to it, owned by none)."""
    await networks.set_parties(tx, network_id, peer.owned)
    if peer.routed:
        await networks.set_parties(tx, network_id, peer.routed, replace=False, owner=False)


async def unregister(store: Store, auth: NetworkAuth) -> None:
    async with store.transaction() as tx:
        await networks.mark_revoked(tx, auth.network_id)
    log.info("network.unregistered", network=auth.name)


# ---- we initiate -------------------------------------------------------------------------------
async def register_with(
    store: Store,
    settings: Settings,
    versions_url_: str,
    token_a: str,
    name: str | None = None,
    *,
    http: httpx.AsyncClient | None = None,
) -> tuple[str, str, list[Party]]:
    """The whole handshake as initiator; returns (network name, version, parties). A failure
    is logged with what went wrong (the network is not kept: nothing was agreed)."""
    try:
        done = await _register_with(store, settings, versions_url_, token_a, name, http=http)
    except (HandshakeError, OcpiError, networks.NetworkExists) as exc:
        log.warning(
            "network.registration_failed",
            network=name,
            initiator="us",
            versions_url=versions_url_,
            error=str(exc),
        )
        raise
    await networks.record_registration(store, done[0], initiator="us", error=None)
    return done


async def _register_with(
    store: Store,
    settings: Settings,
    versions_url_: str,
    token_a: str,
    name: str | None,
    *,
    http: httpx.AsyncClient | None,
) -> tuple[str, str, list[Party]]:
    version, endpoints, encoding = await discover(token_a, versions_url_, http=http)
    credentials_url = require_endpoint(endpoints, "credentials", version=version)
    token_b = networks.generate_token()
    name = name or _name_from_url(versions_url_)
    # Token B must be known before we POST: they call our versions endpoint with it first.
    async with store.transaction() as tx:
        network_id = await networks.create_network(
            tx, name, status="PENDING", ocpi_version=version, versions_url=versions_url_
        )
        await networks.add_token(tx, network_id, token_b, "B")
    client = OcpiClient(
        token_a, auth_encoding=encoding, http=http, retry=RetryPolicy(attempts=2, base_delay_s=0.2)
    )
    try:
        env, _ = await client.request(
            "POST", credentials_url, json=our_credentials(settings, token_b, version)
        )
        peer = parse_credentials(env.decoded_data())
    except (OcpiError, ValueError) as exc:
        async with store.transaction() as tx:
            await networks.delete_network(tx, network_id)
        raise HandshakeError(f"credentials POST to {credentials_url} failed: {exc}") from exc
    finally:
        await client.aclose()
    try:
        async with store.transaction() as tx:
            await _keep_parties(tx, network_id, peer)
            await networks.update_registration(
                tx,
                network_id,
                status="REGISTERED",
                ocpi_version=version,
                versions_url=versions_url_,
                endpoints=endpoints,
                outbound_token=peer.token,
                outbound_auth=encoding,
                business_details=peer.business_details,
            )
    except networks.PartyOwned as exc:
        # Their credentials name a party another network owns: no registration. Our side of
        # it is forgotten and theirs is unregistered (best effort).
        log.warning("network.party_claim_refused", network=name, party=str(exc.party))
        async with store.transaction() as tx:
            await networks.delete_network(tx, network_id)
        async with OcpiClient(
            peer.token, auth_encoding=encoding, http=http, retry=RetryPolicy(attempts=1)
        ) as theirs:
            with contextlib.suppress(OcpiError):
                await theirs.request("DELETE", credentials_url)
        raise HandshakeError(str(exc), transport.INVALID_PARAMETERS) from exc
    log.info(
        "network.registered",
        network=name,
        version=version,
        initiator="us",
        parties=[str(p) for p in peer.parties],
    )
    return name, version, peer.parties


def _name_from_url(url: str) -> str:
    host = httpx.URL(url).host or "network"
    return (
        host.split(".")[0]
        if not host.replace(".", "").isdigit()
        else f"{host}:{httpx.URL(url).port}"
    )


async def add_static(
    store: Store,
    name: str,
    token: str,
    parties: list[Party],
    *,
    version: str = "2.2.1",
    their_token: str | None = None,
    versions_url_: str | None = None,
    locations_url: str | None = None,
    tariffs_url: str | None = None,
    http: httpx.AsyncClient | None = None,
) -> None:
    """A network that works without the handshake: the token it pushes with, its parties, and
    optionally how to pull from it (their versions URL, or module URLs directly)."""
    if version not in transport.SUPPORTED_VERSIONS:
        raise ValueError(f"version must be one of {', '.join(transport.SUPPORTED_VERSIONS)}")
    endpoints: list[dict[str, Any]] = []
    encoding = transport.default_auth_encoding(version)
    if versions_url_ and their_token:
        version, endpoints, encoding = await discover(
            their_token, versions_url_, version=version, http=http
        )
    for module, url in (("locations", locations_url), ("tariffs", tariffs_url)):
        if url:
            endpoints.append({"identifier": module, "role": "SENDER", "url": url})
    async with store.transaction() as tx:
        network_id = await networks.create_network(
            tx, name, status="STATIC", ocpi_version=version, versions_url=versions_url_
        )
        await networks.add_token(tx, network_id, token, "STATIC")
        await networks.set_parties(tx, network_id, parties)
        await networks.update_registration(
            tx,
            network_id,
            status="STATIC",
            ocpi_version=version,
            versions_url=versions_url_,
            endpoints=endpoints,
            outbound_token=their_token,
            outbound_auth=encoding,
            business_details=None,
        )
    log.info("network.static_token", network=name, parties=[str(p) for p in parties])


async def revoke(store: Store, name: str) -> None:
    async with store.transaction() as tx:
        network_id = await networks.network_id_by_name(tx, name)
        await networks.mark_revoked(tx, network_id)
    log.info("network.revoked", network=name)
