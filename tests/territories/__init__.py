"""Helpers for the territory tests: small maps with codes of their own, and the routes."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import FastAPI

from polis.app import api_router
from polis.territories.router import router

Geometry = dict[str, Any]
Feature = dict[str, Any]


def ensure_routes(app: FastAPI) -> None:
    """Mount the territory routes on the suite's app unless app.py already does."""
    if not any(getattr(route, "path", None) == "/api/v1/territories" for route in app.routes):
        app.include_router(api_router(router))


def unique_prefix() -> str:
    """Codes no other test (nor the shipped map) uses."""
    return "T" + secrets.token_hex(3).upper()


def rectangle(west: float, south: float, east: float, north: float) -> Geometry:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(
    code: str,
    kind: str,
    parent_code: str | None,
    geometry: Geometry | None,
    *,
    name_en: str | None = None,
    name_ka: str | None = None,
    **extra: Any,
) -> Feature:
    properties: dict[str, Any] = {
        "code": code,
        "type": kind,
        "name_ka": name_ka or f"{code} ka",
        "name_en": name_en or f"{code} en",
        "parent_code": parent_code,
        **extra,
    }
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def collection(*features: Feature) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def small_map(prefix: str, west: float = 10.0, south: float = -40.0) -> dict[str, Any]:
    """A region with one municipality (a 2x1 degree box) split into two districts."""
    east, north, middle = west + 2, south + 1, west + 1
    return collection(
        feature(prefix, "region", None, rectangle(west, south, east, north), name_en="Testland"),
        feature(
            f"{prefix}-01",
            "municipality",
            prefix,
            rectangle(west, south, east, north),
            name_en="Testopolis",
            name_ka="ტესტოპოლისი",
        ),
        feature(
            f"{prefix}-01-D1",
            "electoral_district",
            f"{prefix}-01",
            rectangle(west, south, middle, north),
        ),
        feature(
            f"{prefix}-01-D2",
            "electoral_district",
            f"{prefix}-01",
            rectangle(middle, south, east, north),
        ),
    )
