"""The sandbox network as an ASGI app for granian (``wattlas sandbox``)."""

from __future__ import annotations

from app.settings import load_settings
from devtools.sandbox.app import create_sandbox_app

_settings = load_settings()
app = create_sandbox_app(
    _settings.sandbox_url,
    networks=_settings.sandbox_networks.split(",") if _settings.sandbox_networks else None,
    state_file=_settings.state_dir / "sandbox.json",
    push_rate=_settings.sandbox_push_rate,
    page_size=_settings.sandbox_page_size,
    log_level=_settings.log_level,
    log_format=_settings.log_format,
    dataset=_settings.sandbox_dataset,
    demo_tariffs=_settings.sandbox_demo_tariffs,
)
