"""The ASGI application granian serves: settings from the environment, every part mounted."""

from __future__ import annotations

from wattlas.compose import build_app

app = build_app()
