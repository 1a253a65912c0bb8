"""The domain hooks: a registered handler runs; firing one nobody registered for raises."""

from __future__ import annotations

from typing import Any

import pytest

from polis.kit import hooks


async def test_a_hook_runs_its_handler() -> None:
    hook: hooks.Hook[[str, Any]] = hooks.Hook("something_due")
    seen: list[tuple[str, Any]] = []

    async def handler(name: str, subject: Any) -> None:
        seen.append((name, subject))

    hook.register(handler)
    await hook.fire("unit", 7)
    assert seen == [("unit", 7)]
    assert hook.registered


async def test_a_hook_without_a_handler_fails_loudly() -> None:
    hook: hooks.Hook[[str]] = hooks.Hook("something_due")
    with pytest.raises(RuntimeError, match="something_due"):
        await hook.fire("unit")


def test_the_app_registers_the_leader_election_hook() -> None:
    # The suite's setup registers it as the app and the worker do.
    assert hooks.leader_election_due.registered
