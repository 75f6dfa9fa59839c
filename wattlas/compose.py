"""The composition root: the only module that puts ``app`` and ``ingest`` together."""

from __future__ import annotations

from litestar import Litestar

from app.api.errors import PREFIX_HANDLERS
from app.factory import create_app
from app.settings import Settings, load_settings
from ingest.receiver.guards import ocpi_error
from ingest.receiver.routes import ocpi_router, receiver_lifespan
from ingest.scheduler import scheduler_lifespan
from wattlas.revisions import head_revision


def build_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    if ("/ocpi", ocpi_error) not in PREFIX_HANDLERS:
        PREFIX_HANDLERS.append(("/ocpi", ocpi_error))
    return create_app(
        settings,
        route_handlers=[ocpi_router],
        lifespan=[receiver_lifespan, scheduler_lifespan],
        schema_head=head_revision(),
    )
