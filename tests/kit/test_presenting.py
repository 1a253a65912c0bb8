"""from_row: a response model filled from a row's attributes, computed values over them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import BaseModel, ValidationError

from polis.kit.presenting import from_row


class ThingOut(BaseModel):
    id: int
    name: str
    owner: str
    note: str = "none"


@dataclass
class Thing:
    id: int
    name: str
    secret: str = "never shown"


def test_fields_come_from_the_row_and_computed_values_win() -> None:
    shaped = from_row(ThingOut, Thing(1, "lamp"), owner="Nino", name="Lamp")

    assert shaped == ThingOut(id=1, name="Lamp", owner="Nino", note="none")


def test_a_missing_field_fails_validation_and_a_typo_is_refused() -> None:
    with pytest.raises(ValidationError):
        from_row(ThingOut, Thing(1, "lamp"))
    with pytest.raises(TypeError, match="ownr"):
        from_row(ThingOut, Thing(1, "lamp"), owner="Nino", ownr="x")
