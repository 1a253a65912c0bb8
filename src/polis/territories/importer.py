"""Reading and checking an electoral map: a GeoJSON FeatureCollection of territories.

Everything here is pure: it turns the document into checked ``FeatureSpec``s or a list of
problems, each naming the feature's index and code. What needs the database (a parent that is
already stored, a stored territory's type) is checked by ``service.import_territories``, which
collects those problems into the same list before it writes anything.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry import shape
from shapely.validation import explain_validity

from polis.kit.errors import ErrorCode, ValidationFailed
from polis.territories.models import LEVELS, TerritoryType

REQUIRED_PROPERTIES = ("code", "type", "name_ka", "name_en", "parent_code")
GEOMETRY_TYPES = ("Polygon", "MultiPolygon")
MAX_CODE_LENGTH = 32
MAX_NAME_LENGTH = 200

SAMPLE_MAP = Path(__file__).parent / "data" / "georgia.geojson"


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with the file; ``index`` is the feature's position (None: the file)."""

    index: int | None
    code: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "message": self.message}


class TerritoryImportError(ValidationFailed):
    """The map has problems; nothing was written. ``problems`` lists every one of them."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        self.problems = problems
        super().__init__(
            f"The map has {len(problems)} problem(s); nothing was imported.",
            error=ErrorCode.BAD_FORMAT,
            details={"errors": [problem.as_dict() for problem in problems]},
        )


@dataclass(frozen=True)
class FeatureSpec:
    """A feature that passed every check that needs no database."""

    index: int
    code: str
    type: TerritoryType
    name_ka: str
    name_en: str
    parent_code: str | None
    # Only ``type`` and ``coordinates``: foreign members of the geometry are not kept.
    boundary: dict[str, Any]
    min_lat: float
    min_lng: float
    max_lat: float
    max_lng: float

    @property
    def level(self) -> int:
        return LEVELS[self.type]


def load_document(path: Path) -> Any:
    """The parsed JSON of ``path``; an unreadable or malformed file is a problem of the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TerritoryImportError(
            [ImportProblem(None, None, f"cannot read {path}: {exc}")]
        ) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TerritoryImportError([ImportProblem(None, None, f"not valid JSON: {exc}")]) from exc


def _text(properties: dict[str, Any], name: str, limit: int, errors: list[str]) -> str | None:
    value = properties.get(name)
    if not isinstance(value, str) or not value.strip():
        errors.append(f"property '{name}' must be a non-empty string")
        return None
    if len(value.strip()) > limit:
        errors.append(f"property '{name}' is longer than {limit} characters")
        return None
    return value.strip()


def _geometry(raw: Any, errors: list[str]) -> tuple[dict[str, Any], tuple[float, ...]] | None:
    if raw is None:
        errors.append("the feature has no geometry")
        return None
    if not isinstance(raw, dict) or raw.get("type") not in GEOMETRY_TYPES:
        kind = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
        errors.append(f"geometry must be a Polygon or MultiPolygon, not {kind}")
        return None
    boundary = {"type": raw["type"], "coordinates": raw.get("coordinates")}
    try:
        geometry = shape(boundary)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        errors.append(f"geometry coordinates are malformed: {exc}")
        return None
    if geometry.is_empty:
        errors.append("geometry is empty")
        return None
    if not geometry.is_valid:
        errors.append(f"geometry is invalid: {explain_validity(geometry)}")
        return None
    bounds = geometry.bounds
    if not all(math.isfinite(v) for v in bounds):
        errors.append("geometry has non-finite coordinates")
        return None
    min_lng, min_lat, max_lng, max_lat = bounds
    if not (-180 <= min_lng <= max_lng <= 180 and -90 <= min_lat <= max_lat <= 90):
        errors.append("geometry lies outside longitude -180..180 / latitude -90..90")
        return None
    return boundary, bounds


def _feature(index: int, feature: Any) -> tuple[FeatureSpec | None, list[ImportProblem]]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return None, [ImportProblem(index, None, "not a GeoJSON Feature")]
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        return None, [ImportProblem(index, None, "the feature has no properties object")]
    code = _raw_code(feature)
    errors: list[str] = []
    _check_property_names(properties, errors)
    if "code" in properties:
        _text(properties, "code", MAX_CODE_LENGTH, errors)
    kind = _kind(properties, errors)
    name_ka = (
        _text(properties, "name_ka", MAX_NAME_LENGTH, errors) if "name_ka" in properties else None
    )
    name_en = (
        _text(properties, "name_en", MAX_NAME_LENGTH, errors) if "name_en" in properties else None
    )
    parent_code = _parent_code(properties, kind, errors)
    geometry = _geometry(feature.get("geometry"), errors)
    problems = [ImportProblem(index, code, message) for message in errors]
    if problems or code is None or kind is None or name_ka is None or name_en is None:
        return None, problems
    assert geometry is not None
    boundary, (min_lng, min_lat, max_lng, max_lat) = geometry
    spec = FeatureSpec(
        index=index,
        code=code,
        type=kind,
        name_ka=name_ka,
        name_en=name_en,
        parent_code=parent_code,
        boundary=boundary,
        min_lat=min_lat,
        min_lng=min_lng,
        max_lat=max_lat,
        max_lng=max_lng,
    )
    return spec, []


def _check_property_names(properties: dict[str, Any], errors: list[str]) -> None:
    missing = [name for name in REQUIRED_PROPERTIES if name not in properties]
    if missing:
        errors.append(f"missing properties: {', '.join(missing)}")
    unknown = sorted(set(properties) - set(REQUIRED_PROPERTIES))
    if unknown:
        # Strict on purpose: a misspelt 'parent_code' must not silently make a region.
        errors.append(f"unknown properties: {', '.join(unknown)}")


def _kind(properties: dict[str, Any], errors: list[str]) -> TerritoryType | None:
    if "type" not in properties:
        return None
    try:
        return TerritoryType(properties["type"])
    except ValueError:
        allowed = ", ".join(t.value for t in TerritoryType)
        errors.append(f"unknown type {properties['type']!r} (one of: {allowed})")
        return None


def _parent_code(
    properties: dict[str, Any], kind: TerritoryType | None, errors: list[str]
) -> str | None:
    """A region has no parent; every other level names one."""
    if "parent_code" not in properties:
        return None
    raw_parent = properties["parent_code"]
    if kind is TerritoryType.REGION:
        if raw_parent is not None:
            errors.append("a region has no parent: parent_code must be null")
        return None
    if raw_parent is None:
        if kind is not None:
            errors.append(f"a {kind.value} needs a parent_code")
        return None
    return _text(properties, "parent_code", MAX_CODE_LENGTH, errors)


def parse_document(document: Any) -> tuple[list[FeatureSpec], list[ImportProblem]]:
    """Check every feature of ``document`` on its own and against the others in the file.

    Returns the features that passed, sorted by level (regions first, so parents may come
    after their children in the file), and every problem found.
    """
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        return [], [ImportProblem(None, None, "the file is not a GeoJSON FeatureCollection")]
    features = document.get("features")
    if not isinstance(features, list):
        return [], [ImportProblem(None, None, "the FeatureCollection has no features list")]
    specs: list[FeatureSpec] = []
    problems: list[ImportProblem] = []
    for index, feature in enumerate(features):
        spec, found = _feature(index, feature)
        problems.extend(found)
        if spec is not None:
            specs.append(spec)
    # Duplicates are counted over every feature that names a code, valid or not.
    codes = [_raw_code(feature) for feature in features]
    counts = Counter(code for code in codes if code)
    for index, code in enumerate(codes):
        if code and counts[code] > 1:
            problems.append(ImportProblem(index, code, f"duplicate code {code!r} in the file"))
    problems.sort(key=lambda p: p.index if p.index is not None else -1)
    specs.sort(key=lambda s: (s.level, s.index))
    return specs, problems


def _raw_code(feature: Any) -> str | None:
    properties = feature.get("properties") if isinstance(feature, dict) else None
    raw = properties.get("code") if isinstance(properties, dict) else None
    return raw.strip() if isinstance(raw, str) and raw.strip() else None
