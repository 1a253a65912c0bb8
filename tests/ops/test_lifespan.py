"""The app's startup freezes what it loaded out of the garbage collector's way; shutdown
unfreezes it."""

from __future__ import annotations

import gc

from polis.app import create_app
from polis.config import Settings


async def test_startup_objects_are_frozen_while_the_app_runs(settings: Settings) -> None:
    gc.unfreeze()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
