"""Point lookup without PostGIS: bounding boxes in SQL, the exact polygon test in shapely."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.kit.errors import ErrorCode, ValidationFailed
from polis.territories import service
from tests.auth.helpers import assert_error
from tests.conftest import make_member
from tests.territories import collection, ensure_routes, feature, rectangle, unique_prefix

# An L: the square 30..32 x -30..-28 without its north-east quarter 31..32 x -29..-28.
L_SHAPE = {
    "type": "Polygon",
    "coordinates": [
        [[30.0, -30.0], [32.0, -30.0], [32.0, -29.0], [31.0, -29.0], [31.0, -28.0],
         [30.0, -28.0], [30.0, -30.0]]
    ],
}  # fmt: skip


@pytest.fixture(autouse=True)
def _routes(app: FastAPI) -> None:
    ensure_routes(app)


async def _l_map(session: AsyncSession) -> str:
    prefix = unique_prefix()
    square = rectangle(30.0, -30.0, 32.0, -28.0)
    await service.import_territories(
        session,
        collection(
            feature(prefix, "region", None, square),
            feature(f"{prefix}-01", "municipality", prefix, square),
            feature(f"{prefix}-01-D1", "electoral_district", f"{prefix}-01", L_SHAPE),
        ),
    )
    return prefix


async def test_a_point_inside_the_polygon(db_session: AsyncSession) -> None:
    prefix = await _l_map(db_session)
    found = await service.district_at(db_session, -29.5, 31.5)  # in the L's foot
    assert found is not None and found.code == f"{prefix}-01-D1"
    # Only districts answer, though the municipality and region hold the point too.
    on_edge = await service.district_at(db_session, -30.0, 30.5)
    assert on_edge is not None and on_edge.code == f"{prefix}-01-D1"


async def test_a_point_in_the_box_but_not_the_polygon(db_session: AsyncSession) -> None:
    await _l_map(db_session)
    # Inside the bounding box (30..32 x -30..-28), in the notch the L leaves out.
    assert await service.district_at(db_session, -28.5, 31.5) is None


async def test_a_point_outside_every_box(db_session: AsyncSession) -> None:
    await _l_map(db_session)
    assert await service.district_at(db_session, -10.0, 31.0) is None


@pytest.mark.parametrize(
    ("lat", "lng", "field"),
    [(90.5, 0.0, "lat"), (-91.0, 0.0, "lat"), (0.0, 180.01, "lng"), (0.0, -181.0, "lng")],
)
async def test_coordinates_out_of_range(
    db_session: AsyncSession, lat: float, lng: float, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await service.district_at(db_session, lat, lng)
    assert caught.value.error is ErrorCode.OUT_OF_RANGE
    assert caught.value.details["field"] == field


async def test_lookup_endpoint(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    prefix = await _l_map(db_session)
    viewer = await make_member(db_session, settings, "+995555310001")
    url = "/api/v1/territories/lookup"

    found = await client.get(url, params={"lat": -29.5, "lng": 31.5}, headers=viewer.headers)
    assert found.status_code == 200
    data = found.json()["data"]
    assert data["code"] == f"{prefix}-01-D1"
    assert data["type"] == "electoral_district"
    assert [p["code"] for p in data["parents"]] == [prefix, f"{prefix}-01"]
    assert found.headers["cache-control"] == "public, max-age=86400"

    notch = await client.get(url, params={"lat": -28.5, "lng": 31.5}, headers=viewer.headers)
    assert_error(notch, 404, 4001)
    far = await client.get(url, params={"lat": 95, "lng": 31.5}, headers=viewer.headers)
    assert_error(far, 422, 2003)
    wide = await client.get(url, params={"lat": 0, "lng": -200}, headers=viewer.headers)
    assert_error(wide, 422, 2003)
    missing = await client.get(url, params={"lat": 1}, headers=viewer.headers)
    assert_error(missing, 422, 2001)
    anonymous = await client.get(url, params={"lat": -29.5, "lng": 31.5})
    assert_error(anonymous, 401, 1003)
