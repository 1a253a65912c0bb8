"""The app factory the multi-process test serves while polis.app does not yet install /ws.

``install_realtime`` is idempotent, so this stays correct once ``create_app`` calls it.
"""

from __future__ import annotations

from fastapi import FastAPI

from polis.app import create_app as create_polis_app
from polis.realtime import install_realtime


def create_app() -> FastAPI:
    app = create_polis_app()
    install_realtime(app)
    return app
