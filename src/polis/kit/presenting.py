"""Response models filled from rows: the field-by-field copies presenters used to write.

``from_row(SignalOut, signal, reporter=person)`` takes every field of ``SignalOut`` from the
attribute of the same name on ``signal``, with the keyword arguments (computed values, other
rows' shapes) over them. Pydantic validates the result as a constructor call would.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)

_MISSING = object()


def from_row(schema: type[Model], row: object, **computed: Any) -> Model:
    """``schema`` from ``row``'s attributes of its field names, ``computed`` taking precedence.

    A field the row lacks and nothing computes is left to the schema's default (or to its
    validation error, when it has none).
    """
    values: dict[str, Any] = {}
    for name in schema.model_fields:
        if name in computed:
            values[name] = computed[name]
            continue
        value = getattr(row, name, _MISSING)
        if value is not _MISSING:
            values[name] = value
    unknown = set(computed) - set(schema.model_fields)
    if unknown:
        # A caller's typo would otherwise vanish silently.
        raise TypeError(f"{schema.__name__} has no field {', '.join(sorted(unknown))}")
    return schema.model_validate(values)
