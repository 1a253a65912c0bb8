"""A domain's router that refuses requests outside its prefix before matching any route.

FastAPI 0.165 keeps each included router whole and, for every request, asks every included
router in turn whether one of its routes matches, twice (once to pick the router, once to
pick the route). With every domain under ``/api/v1`` that is each route of each domain
before the one hit: measured at about 15 % of a vote's CPU. A domain router knows the one
prefix all its paths start with, so it can answer "no" with one ``str.startswith``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute
from starlette.routing import Match, compile_path
from starlette.types import Scope

from polis.kit.envelope import ErrorEnvelope
from polis.kit.errors import ErrorCode


class DomainRouter(APIRouter):
    """An ``APIRouter`` whose routes all start with its prefix (``/elections``, ``/admin``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", PolisRoute)
        super().__init__(*args, **kwargs)
        self._mounted_prefix: str | None = None

    def mounted_at(self, outer_prefix: str) -> None:
        """Note where the router is included (``/api/v1``); unknown, every path is tried."""
        if self.prefix:
            self._mounted_prefix = outer_prefix + self.prefix

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        prefix = self._mounted_prefix
        # "in", not startswith: the path may still carry an ASGI root_path in front. A path
        # without the prefix anywhere cannot match a route of this router.
        if prefix is not None and prefix not in scope["path"]:
            return Match.NONE, {}
        return super().matches(scope)


# -- Errors into the contract -------------------------------------------------------------------
#
# A route declares the error codes it can answer once, with ``@errors(...)`` on its endpoint or
# on a dependency it uses (``_admin`` declares INSUFFICIENT_PERMISSIONS for every admin route).
# ``PolisRoute`` collects them from the endpoint and its whole dependency tree and writes the
# OpenAPI ``responses``, an ``x-error-codes`` list and an "Errors" section of the description
# from that one list, so the docstring, the route and the catalogue cannot drift.

ERRORS_ATTR = "__polis_errors__"

# Answered by the request validation handler whenever a route takes any input.
VALIDATION_ERRORS = (ErrorCode.MISSING_FIELD, ErrorCode.BAD_FORMAT)
# Answered by what every /api/v1 route is mounted behind (``polis.app.api_router``:
# ``default_rate_limit``). FastAPI 0.165 keeps an including router's dependencies out of the
# included routes' dependency trees, so the route cannot see them itself.
MOUNTED_ERRORS = (ErrorCode.RATE_LIMITED,)

Call = TypeVar("Call", bound=Callable[..., Any])


def errors(*codes: ErrorCode) -> Callable[[Call], Call]:
    """Declare the error codes an endpoint or a dependency can answer (repeatable)."""

    def mark(call: Call) -> Call:
        setattr(call, ERRORS_ATTR, tuple(dict.fromkeys((*declared_by(call), *codes))))
        return call

    return mark


def declared_by(call: Any) -> tuple[ErrorCode, ...]:
    """The codes ``call`` itself declares (not its dependencies')."""
    declared: tuple[ErrorCode, ...] = getattr(call, ERRORS_ATTR, ())
    return declared


def _tree_errors(dependant: Dependant) -> list[ErrorCode]:
    found = list(declared_by(dependant.call))
    for sub in dependant.dependencies:
        found.extend(_tree_errors(sub))
    return found


def _takes_input(dependant: Dependant) -> bool:
    """Whether the request can fail validation: any parameter anywhere in the tree."""
    own = (
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
    )
    return bool(own) or any(_takes_input(sub) for sub in dependant.dependencies)


def _names_a_row(dependant: Dependant) -> bool:
    """Whether the path carries an id: an unknown or invisible one is 404 (DESIGN.md §5.4)."""
    own = any(field.field_info.annotation is uuid.UUID for field in dependant.path_params)
    return own or any(_names_a_row(sub) for sub in dependant.dependencies)


def route_errors(
    path: str, endpoint: Callable[..., Any], dependencies: Sequence[params.Depends] = ()
) -> tuple[ErrorCode, ...]:
    """Every code a route on ``path`` with ``endpoint`` and ``dependencies`` can answer, in
    catalogue order."""
    path_format = compile_path(path)[1]
    dependants = [get_dependant(path=path_format, call=endpoint)]
    dependants += [
        get_dependant(path=path_format, call=depends.dependency)
        for depends in dependencies
        if depends.dependency is not None
    ]
    found = [code for dependant in dependants for code in _tree_errors(dependant)]
    if any(_takes_input(dependant) for dependant in dependants):
        found.extend(VALIDATION_ERRORS)
    if any(_names_a_row(dependant) for dependant in dependants):
        found.append(ErrorCode.NOT_FOUND)
    found.extend(MOUNTED_ERRORS)
    catalogue = list(ErrorCode)
    return tuple(sorted(set(found), key=catalogue.index))


def _error_responses(codes: Sequence[ErrorCode]) -> dict[int | str, dict[str, Any]]:
    by_status: dict[int, list[ErrorCode]] = {}
    for code in codes:
        by_status.setdefault(code.status, []).append(code)
    return {
        status: {
            "model": ErrorEnvelope,
            "description": "; ".join(f"code {code.code} {code.name}" for code in listed),
        }
        for status, listed in sorted(by_status.items())
    }


def _errors_section(codes: Sequence[ErrorCode]) -> str:
    lines = [
        f"- `{code.code} {code.name}` ({code.status}): {code.default_message}" for code in codes
    ]
    return "**Errors**\n\n" + "\n".join(lines)


class PolisRoute(APIRoute):
    """An ``APIRoute`` whose error responses come from the codes its parts declare."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        codes = route_errors(path, endpoint, kwargs.get("dependencies") or ())
        kwargs["responses"] = {**(kwargs.get("responses") or {}), **_error_responses(codes)}
        super().__init__(path, endpoint, **kwargs)
        self.error_codes = codes
        self.openapi_extra = {
            **(self.openapi_extra or {}),
            "x-error-codes": [c.code for c in codes],
        }
        section = _errors_section(codes)
        if section not in self.description:
            self.description = f"{self.description}\n\n{section}".strip()
