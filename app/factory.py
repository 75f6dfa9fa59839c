"""The app factory: one Litestar app per process, composed from the parts it is given."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.types import ControllerRouterHandler

from app.access.gate import AccessGate
from app.api.caching import COMPRESSION
from app.api.errors import EXCEPTION_HANDLERS
from app.api.health import health, ping, ready
from app.api.live import get_clusters, stream
from app.api.locations import locations_router, search_router
from app.api.networks import list_networks
from app.api.openapi import ContractJsonPlugin
from app.api.price import price_a_session
from app.api.sources import list_sources
from app.api.sync import export, list_changes
from app.jobs import prune_changes_forever, refresh_clusters_forever, sequence_changes_forever
from app.limits import RequestLimits
from app.live.tasks import cancel_and_wait
from app.logs import configure_logging, get_logger
from app.services import DEPENDENCIES, Services
from app.settings import Settings
from app.store import track_read_lag
from app.web.routes import web_router

log = get_logger(__name__)

LifespanHook = Callable[[Litestar], AbstractAsyncContextManager[None]]


# Young objects between collections: a request that decodes a 50,000-point route (100k lists and
# floats) sets off a handful of collections instead of hundreds.
GC_GEN0_THRESHOLD = 100_000


def _tune_gc() -> None:
    """What exists after startup (the app, its routes, schemas, pools) lives as long as the
    process: frozen, full collections no longer walk it. Together with a larger first
    generation this took the along-route request's Python time from ~150 ms to ~30 ms."""
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 50, 100)


# On every answer a read replica contributed to: its replay lag, in seconds (issue 15).
LAG_HEADER = b"wattlas-replica-lag-s"


class WattlasApp(Litestar):
    """Litestar, with every request bounded first (``app.limits``), then the public API's
    keys, quotas and CORS (``app.access.gate``)."""

    def __init__(self, *args: Any, settings: Settings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        gate = AccessGate(super().__call__, settings, lambda: self.state.services)
        self._limits = RequestLimits(gate, body_timeout_s=settings.body_timeout_s)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._limits(scope, receive, send)
            return
        lag = track_read_lag()  # this request's own: the replica lag its reads had

        async def send_saying_lag(message: Any) -> None:
            if message["type"] == "http.response.start" and lag.lag_s is not None:
                said = f"{lag.lag_s:.3f}".encode()
                headers = [*message.get("headers", ()), (LAG_HEADER, said)]
                message = {**message, "headers": headers}
            await send(message)

        await self._limits(scope, receive, send_saying_lag)


def create_app(
    settings: Settings,
    *,
    route_handlers: Sequence[ControllerRouterHandler] = (),
    lifespan: Sequence[LifespanHook] = (),
    schema_head: str | None = None,
    configure_logs: bool = True,
    **litestar_kwargs: Any,
) -> Litestar:
    if configure_logs:
        configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def services_lifespan(app: Litestar) -> AsyncIterator[None]:
        services = Services.create(settings, schema_head=schema_head)
        app.state.services = services
        await services.open()
        jobs = []
        if settings.cluster_refresh_s > 0:
            jobs.append(
                asyncio.create_task(
                    refresh_clusters_forever(services.store, settings.cluster_refresh_s),
                    name="cluster-refresher",
                )
            )
        jobs.append(
            asyncio.create_task(
                prune_changes_forever(services.store, settings.changes_retention_s),
                name="changes-pruner",
            )
        )
        jobs.append(
            asyncio.create_task(sequence_changes_forever(services.store), name="changes-sequencer")
        )
        _tune_gc()
        log.info("app.started", base_url=settings.base_url)
        try:
            yield
        finally:
            await cancel_and_wait(jobs)
            await services.close()
            log.info("app.stopped")

    return WattlasApp(
        settings=settings,
        route_handlers=[
            health,
            ready,
            ping,
            locations_router,
            search_router,
            get_clusters,
            list_networks,
            list_sources,
            price_a_session,
            stream,
            list_changes,
            export,
            web_router,
            *route_handlers,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        dependencies=DEPENDENCIES,
        lifespan=[services_lifespan, *lifespan],
        compression_config=COMPRESSION,
        openapi_config=OpenAPIConfig(
            title="Wattlas",
            version="1.0.0",
            description=(
                "Charging-station discovery with live availability, gathered over OCPI from "
                "many networks."
            ),
            path="/schema",
            render_plugins=[
                ContractJsonPlugin(path=["/", "/openapi.json"]),
                SwaggerRenderPlugin(),
            ],
            use_handler_docstrings=True,
        ),
        logging_config=None,
        **litestar_kwargs,
    )
