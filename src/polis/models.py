"""Imports every domain's models so that ``Base.metadata`` knows every table."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "polis.territories.models",
    "polis.users.models",
    "polis.auth.models",
    "polis.notifications.models",
    "polis.audit.models",
    "polis.units.models",
    "polis.gamification.models",
    "polis.endorsements.models",
    "polis.arbitration.models",
    "polis.maintenance.models",
    "polis.initiatives.models",
    "polis.sos.models",
    "polis.elections.models",
)


def import_all_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)
