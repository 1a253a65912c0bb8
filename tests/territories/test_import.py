"""Importing the electoral map: idempotent upserts, all-or-nothing validation, the sample map."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from polis.kit.errors import ErrorCode
from polis.territories import service
from polis.territories.importer import TerritoryImportError
from polis.territories.models import Territory, TerritoryType
from tests.territories import collection, feature, rectangle, small_map, unique_prefix


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Territory)) or 0)


async def _by_code(session: AsyncSession, code: str) -> Territory:
    territory = await session.scalar(
        select(Territory).where(Territory.code == code).execution_options(populate_existing=True)
    )
    assert territory is not None
    return territory


async def test_import_is_idempotent(db_session: AsyncSession) -> None:
    prefix = unique_prefix()
    document = small_map(prefix)
    before = await _count(db_session)

    first = await service.import_territories(db_session, document)
    assert sorted(first.created) == sorted(
        [prefix, f"{prefix}-01", f"{prefix}-01-D1", f"{prefix}-01-D2"]
    )
    assert first.updated == [] and first.unchanged == []
    assert await _count(db_session) == before + 4
    district = await _by_code(db_session, f"{prefix}-01-D1")
    municipality = await _by_code(db_session, f"{prefix}-01")
    assert district.parent_id == municipality.id
    assert (district.min_lng, district.min_lat, district.max_lng, district.max_lat) == (
        10.0,
        -40.0,
        11.0,
        -39.0,
    )
    assert district.boundary == document["features"][2]["geometry"]
    stamp = district.updated_at

    second = await service.import_territories(db_session, copy.deepcopy(document))
    assert second.changed == 0
    assert len(second.unchanged) == 4
    assert await _count(db_session) == before + 4
    assert (await _by_code(db_session, f"{prefix}-01-D1")).updated_at == stamp


async def test_an_edited_name_or_boundary_updates(db_session: AsyncSession) -> None:
    prefix = unique_prefix()
    document = small_map(prefix)
    await service.import_territories(db_session, document)

    edited = copy.deepcopy(document)
    edited["features"][1]["properties"]["name_en"] = "New Testopolis"
    edited["features"][3]["geometry"] = rectangle(11.0, -40.0, 12.5, -38.5)
    result = await service.import_territories(db_session, edited)

    assert sorted(result.updated) == [f"{prefix}-01", f"{prefix}-01-D2"]
    assert result.created == []
    assert (await _by_code(db_session, f"{prefix}-01")).name_en == "New Testopolis"
    district = await _by_code(db_session, f"{prefix}-01-D2")
    assert (district.max_lng, district.max_lat) == (12.5, -38.5)
    assert district.boundary == rectangle(11.0, -40.0, 12.5, -38.5)


async def test_parents_may_come_after_children(db_session: AsyncSession) -> None:
    prefix = unique_prefix()
    document = small_map(prefix)
    document["features"].reverse()
    result = await service.import_territories(db_session, document)
    assert len(result.created) == 4
    region = await _by_code(db_session, prefix)
    municipality = await _by_code(db_session, f"{prefix}-01")
    assert municipality.parent_id == region.id


async def test_a_parent_may_already_be_stored(db_session: AsyncSession) -> None:
    prefix = unique_prefix()
    full = small_map(prefix)
    await service.import_territories(db_session, collection(full["features"][0]))
    result = await service.import_territories(db_session, collection(*full["features"][1:]))
    assert len(result.created) == 3


async def test_every_problem_is_reported_and_nothing_is_written(db_session: AsyncSession) -> None:
    p = unique_prefix()
    box = rectangle(20.0, -40.0, 21.0, -39.0)
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    missing_name = feature(f"{p}-M", "municipality", p, box)
    del missing_name["properties"]["name_en"]
    features: list[Any] = [
        feature(p, "region", None, box),  # 0: fine on its own
        missing_name,  # 1
        feature(f"{p}-U", "region", None, box, colour="red"),  # 2
        feature(f"{p}-K", "county", p, box),  # 3
        feature(f"{p}-R", "region", "GE-TB", box),  # 4
        feature(f"{p}-N", "municipality", None, box),  # 5
        feature(f"{p}-P", "region", None, {"type": "Point", "coordinates": [20, -40]}),  # 6
        feature(f"{p}-E", "region", None, {"type": "Polygon", "coordinates": []}),  # 7
        feature(f"{p}-B", "region", None, bowtie),  # 8
        feature(f"{p}-O", "municipality", f"{p}-NOPE", box),  # 9
        feature(f"{p}-L", "electoral_district", p, box),  # 10: a region cannot hold a district
        feature(f"{p}-D", "region", None, box),  # 11
        feature(f"{p}-D", "region", None, box),  # 12
        {"type": "Feature", "geometry": box},  # 13
        "not a feature",  # 14
        feature(f"{p}-G", "region", None, None),  # 15
    ]
    before = await _count(db_session)
    with pytest.raises(TerritoryImportError) as caught:
        await service.import_territories(db_session, collection(*features))
    assert await _count(db_session) == before

    error = caught.value
    assert error.error is ErrorCode.BAD_FORMAT
    found = [(pr.index, pr.code, pr.message) for pr in error.problems]
    expected = [
        (1, f"{p}-M", "missing properties: name_en"),
        (2, f"{p}-U", "unknown properties: colour"),
        (3, f"{p}-K", "unknown type 'county'"),
        (4, f"{p}-R", "a region has no parent"),
        (5, f"{p}-N", "a municipality needs a parent_code"),
        (6, f"{p}-P", "geometry must be a Polygon or MultiPolygon, not Point"),
        (7, f"{p}-E", "geometry is empty"),
        (8, f"{p}-B", "geometry is invalid: Self-intersection"),
        (9, f"{p}-O", f"unknown parent_code '{p}-NOPE'"),
        (10, f"{p}-L", "the parent of a electoral_district must be a municipality"),
        (11, f"{p}-D", "duplicate code"),
        (12, f"{p}-D", "duplicate code"),
        (13, None, "no properties object"),
        (14, None, "not a GeoJSON Feature"),
        (15, f"{p}-G", "the feature has no geometry"),
    ]
    assert len(found) == len(expected), found
    for (index, code, message), (want_index, want_code, want_text) in zip(
        found, expected, strict=True
    ):
        assert (index, code) == (want_index, want_code)
        assert want_text in message, (index, message)
    # The same list travels to an API client in the error details.
    assert error.details["errors"][0] == {"index": 1, "code": f"{p}-M", "message": found[0][2]}


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"type": "Feature"},
        {"type": "FeatureCollection"},
        {"type": "FeatureCollection", "features": {}},
    ],
)
async def test_a_document_that_is_no_feature_collection(
    db_session: AsyncSession, document: object
) -> None:
    with pytest.raises(TerritoryImportError) as caught:
        await service.import_territories(db_session, document)
    assert caught.value.problems[0].index is None


async def test_an_unreadable_file(db_session: AsyncSession, tmp_path: Path) -> None:
    broken = tmp_path / "broken.geojson"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(TerritoryImportError) as caught:
        await service.import_file(db_session, broken)
    assert "not valid JSON" in caught.value.problems[0].message
    with pytest.raises(TerritoryImportError) as missing:
        await service.import_file(db_session, tmp_path / "missing.geojson")
    assert "cannot read" in missing.value.problems[0].message


async def test_a_stored_territory_keeps_its_level(db_session: AsyncSession) -> None:
    prefix = unique_prefix()
    document = small_map(prefix)
    await service.import_territories(db_session, document)
    # The district becomes a municipality under the region: its type may not change.
    changed = copy.deepcopy(document)
    changed["features"][2]["properties"].update(type="municipality", parent_code=prefix)
    before = await _count(db_session)
    with pytest.raises(TerritoryImportError) as caught:
        await service.import_territories(db_session, changed)
    assert [(p.index, p.code) for p in caught.value.problems] == [(2, f"{prefix}-01-D1")]
    assert "cannot become a municipality" in caught.value.problems[0].message
    assert await _count(db_session) == before


async def test_a_stored_parent_of_the_wrong_level(db_session: AsyncSession) -> None:
    prefix = unique_prefix()
    await service.import_territories(db_session, small_map(prefix))
    orphan = feature(
        f"{prefix}-X", "electoral_district", prefix, rectangle(10.0, -40.0, 10.5, -39.5)
    )
    with pytest.raises(TerritoryImportError) as caught:
        await service.import_territories(db_session, collection(orphan))
    assert "must be a municipality, but" in caught.value.problems[0].message


async def test_the_shipped_map_of_georgia(db_session: AsyncSession) -> None:
    written = await service.seed_sample_map(db_session)
    assert written > 0
    regions = (
        await db_session.scalars(
            select(Territory.code).where(
                Territory.type == TerritoryType.REGION, Territory.code.like("GE-%")
            )
        )
    ).all()
    assert sorted(regions) == [
        "GE-AB", "GE-AJ", "GE-GU", "GE-IM", "GE-KA", "GE-KK",
        "GE-MM", "GE-RL", "GE-SJ", "GE-SK", "GE-SZ", "GE-TB",
    ]  # fmt: skip
    municipality = aliased(Territory)
    district = aliased(Territory)
    without_district = (
        await db_session.scalars(
            select(municipality.code)
            .outerjoin(district, district.parent_id == municipality.id)
            .where(municipality.type == TerritoryType.MUNICIPALITY, municipality.code.like("GE-%"))
            .group_by(municipality.code)
            .having(func.count(district.id) == 0)
        )
    ).all()
    assert without_district == []
    municipalities = await db_session.scalar(
        select(func.count())
        .select_from(Territory)
        .where(Territory.type == TerritoryType.MUNICIPALITY, Territory.code.like("GE-%"))
    )
    assert municipalities is not None and municipalities >= 69
    kutaisi = await _by_code(db_session, "GE-IM-01")
    assert (kutaisi.name_en, kutaisi.name_ka) == ("Kutaisi", "ქუთაისი")
    # Seeding again writes nothing.
    assert await service.seed_sample_map(db_session) == 0
