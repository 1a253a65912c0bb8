"""Write src/polis/territories/data/georgia.geojson: Georgia's regions and municipalities.

The names and codes are real (ISO 3166-2:GE for regions); the boundaries are synthetic. Each
municipality is a square around its administrative centre, sized so that no two squares overlap
(half of the distance to the nearest other centre, capped), and its electoral districts are
vertical strips of that square. A region's boundary is the union of its municipalities'.

Run: .venv/bin/python tools/generate_georgia_map.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shapely.geometry import MultiPolygon, Polygon, box, mapping
from shapely.ops import unary_union

OUT = Path(__file__).resolve().parents[1] / "src/polis/territories/data/georgia.geojson"
MAX_HALF = 0.12  # degrees: the largest square is ~27 km wide
DIGITS = 5

# code, English, Georgian, [(English, Georgian, lat, lng, districts), ...]
REGIONS: list[tuple[str, str, str, list[tuple[str, str, float, float, int]]]] = [
    (
        "GE-TB",
        "Tbilisi",
        "თბილისი",
        [
            ("Mtatsminda", "მთაწმინდა", 41.690, 44.785, 2),
            ("Vake", "ვაკე", 41.708, 44.745, 2),
            ("Saburtalo", "საბურთალო", 41.735, 44.760, 2),
            ("Krtsanisi", "კრწანისი", 41.665, 44.815, 2),
            ("Isani", "ისანი", 41.690, 44.840, 2),
            ("Samgori", "სამგორი", 41.705, 44.885, 2),
            ("Chughureti", "ჩუღურეთი", 41.720, 44.808, 2),
            ("Didube", "დიდუბე", 41.745, 44.785, 2),
            ("Nadzaladevi", "ნაძალადევი", 41.760, 44.810, 2),
            ("Gldani", "გლდანი", 41.790, 44.830, 2),
        ],
    ),
    (
        "GE-AB",
        "Autonomous Republic of Abkhazia",
        "აფხაზეთის ავტონომიური რესპუბლიკა",
        [
            ("Gagra", "გაგრა", 43.280, 40.270, 1),
            ("Gudauta", "გუდაუთა", 43.100, 40.630, 1),
            ("Sukhumi", "სოხუმი", 43.000, 41.020, 2),
            ("Gulripshi", "გულრიფში", 42.900, 41.200, 1),
            ("Ochamchire", "ოჩამჩირე", 42.710, 41.470, 1),
            ("Tkvarcheli", "ტყვარჩელი", 42.840, 41.680, 1),
            ("Gali", "გალი", 42.630, 41.730, 1),
            ("Azhara", "აჟარა", 43.120, 41.700, 1),
        ],
    ),
    (
        "GE-AJ",
        "Autonomous Republic of Adjara",
        "აჭარის ავტონომიური რესპუბლიკა",
        [
            ("Batumi", "ბათუმი", 41.640, 41.630, 3),
            ("Keda", "ქედა", 41.600, 41.940, 1),
            ("Kobuleti", "ქობულეთი", 41.820, 41.780, 2),
            ("Shuakhevi", "შუახევი", 41.630, 42.190, 1),
            ("Khelvachauri", "ხელვაჩაური", 41.550, 41.760, 1),
            ("Khulo", "ხულო", 41.640, 42.310, 1),
        ],
    ),
    (
        "GE-GU",
        "Guria",
        "გურია",
        [
            ("Ozurgeti", "ოზურგეთი", 41.920, 42.010, 2),
            ("Lanchkhuti", "ლანჩხუთი", 42.090, 42.030, 1),
            ("Chokhatauri", "ჩოხატაური", 42.020, 42.230, 1),
        ],
    ),
    (
        "GE-IM",
        "Imereti",
        "იმერეთი",
        [
            ("Kutaisi", "ქუთაისი", 42.270, 42.700, 3),
            ("Baghdati", "ბაღდათი", 42.070, 42.820, 1),
            ("Vani", "ვანი", 42.080, 42.520, 1),
            ("Zestaponi", "ზესტაფონი", 42.110, 43.050, 2),
            ("Terjola", "თერჯოლა", 42.200, 42.980, 1),
            ("Samtredia", "სამტრედია", 42.160, 42.340, 1),
            ("Sachkhere", "საჩხერე", 42.350, 43.420, 1),
            ("Tkibuli", "ტყიბული", 42.350, 42.990, 1),
            ("Tskaltubo", "წყალტუბო", 42.330, 42.600, 1),
            ("Chiatura", "ჭიათურა", 42.290, 43.280, 1),
            ("Kharagauli", "ხარაგაული", 42.020, 43.200, 1),
            ("Khoni", "ხონი", 42.320, 42.420, 1),
        ],
    ),
    (
        "GE-KA",
        "Kakheti",
        "კახეთი",
        [
            ("Telavi", "თელავი", 41.920, 45.470, 2),
            ("Akhmeta", "ახმეტა", 42.030, 45.210, 1),
            ("Gurjaani", "გურჯაანი", 41.740, 45.800, 1),
            ("Dedoplistskaro", "დედოფლისწყარო", 41.460, 46.100, 1),
            ("Lagodekhi", "ლაგოდეხი", 41.820, 46.280, 1),
            ("Sagarejo", "საგარეჯო", 41.730, 45.330, 1),
            ("Sighnaghi", "სიღნაღი", 41.620, 45.920, 1),
            ("Kvareli", "ყვარელი", 41.950, 45.820, 1),
        ],
    ),
    (
        "GE-KK",
        "Kvemo Kartli",
        "ქვემო ქართლი",
        [
            ("Rustavi", "რუსთავი", 41.550, 45.000, 2),
            ("Bolnisi", "ბოლნისი", 41.450, 44.540, 1),
            ("Gardabani", "გარდაბანი", 41.460, 45.090, 1),
            ("Dmanisi", "დმანისი", 41.330, 44.200, 1),
            ("Tetritskaro", "თეთრიწყარო", 41.540, 44.460, 1),
            ("Marneuli", "მარნეული", 41.480, 44.810, 2),
            ("Tsalka", "წალკა", 41.590, 44.090, 1),
        ],
    ),
    (
        "GE-MM",
        "Mtskheta-Mtianeti",
        "მცხეთა-მთიანეთი",
        [
            ("Mtskheta", "მცხეთა", 41.850, 44.720, 1),
            ("Dusheti", "დუშეთი", 42.090, 44.700, 1),
            ("Tianeti", "თიანეთი", 42.110, 44.970, 1),
            ("Kazbegi", "ყაზბეგი", 42.660, 44.640, 1),
            ("Akhalgori", "ახალგორი", 42.120, 44.480, 1),
        ],
    ),
    (
        "GE-RL",
        "Racha-Lechkhumi and Kvemo Svaneti",
        "რაჭა-ლეჩხუმი და ქვემო სვანეთი",
        [
            ("Ambrolauri", "ამბროლაური", 42.520, 43.150, 1),
            ("Oni", "ონი", 42.580, 43.440, 1),
            ("Lentekhi", "ლენტეხი", 42.790, 42.720, 1),
            ("Tsageri", "ცაგერი", 42.650, 42.770, 1),
        ],
    ),
    (
        "GE-SZ",
        "Samegrelo-Zemo Svaneti",
        "სამეგრელო-ზემო სვანეთი",
        [
            ("Zugdidi", "ზუგდიდი", 42.510, 41.870, 2),
            ("Poti", "ფოთი", 42.150, 41.670, 1),
            ("Abasha", "აბაშა", 42.200, 42.210, 1),
            ("Martvili", "მარტვილი", 42.410, 42.380, 1),
            ("Mestia", "მესტია", 43.050, 42.730, 1),
            ("Senaki", "სენაკი", 42.270, 42.070, 1),
            ("Chkhorotsku", "ჩხოროწყუ", 42.520, 42.130, 1),
            ("Tsalenjikha", "წალენჯიხა", 42.600, 42.070, 1),
            ("Khobi", "ხობი", 42.320, 41.900, 1),
        ],
    ),
    (
        "GE-SJ",
        "Samtskhe-Javakheti",
        "სამცხე-ჯავახეთი",
        [
            ("Akhaltsikhe", "ახალციხე", 41.640, 42.980, 1),
            ("Adigeni", "ადიგენი", 41.680, 42.700, 1),
            ("Aspindza", "ასპინძა", 41.570, 43.250, 1),
            ("Akhalkalaki", "ახალქალაქი", 41.400, 43.480, 1),
            ("Borjomi", "ბორჯომი", 41.840, 43.380, 1),
            ("Ninotsminda", "ნინოწმინდა", 41.260, 43.590, 1),
        ],
    ),
    (
        "GE-SK",
        "Shida Kartli",
        "შიდა ქართლი",
        [
            ("Gori", "გორი", 41.980, 44.110, 2),
            ("Kaspi", "კასპი", 41.930, 44.420, 1),
            ("Kareli", "ქარელი", 42.020, 43.900, 1),
            ("Khashuri", "ხაშური", 41.990, 43.600, 1),
            ("Java", "ჯავა", 42.400, 43.930, 1),
            ("Eredvi", "ერედვი", 42.280, 44.050, 1),
            ("Kurta", "ქურთა", 42.250, 43.960, 1),
            ("Tighva", "თიღვა", 42.170, 44.100, 1),
        ],
    ),
]


def _round(geometry: Polygon | MultiPolygon) -> dict[str, Any]:
    def ring(coords: Any) -> list[list[float]]:
        return [[round(x, DIGITS), round(y, DIGITS)] for x, y in coords]

    data = mapping(geometry)
    if data["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": [ring(r) for r in data["coordinates"]]}
    return {
        "type": "MultiPolygon",
        "coordinates": [[ring(r) for r in polygon] for polygon in data["coordinates"]],
    }


def _feature(
    code: str, kind: str, name_en: str, name_ka: str, parent: str | None, geometry: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {
            "code": code,
            "type": kind,
            "name_ka": name_ka,
            "name_en": name_en,
            "parent_code": parent,
        },
        "geometry": geometry,
    }


def build() -> dict[str, Any]:
    centres = [(lat, lng) for *_, places in REGIONS for _, _, lat, lng, _ in places]
    features: list[dict[str, Any]] = []
    for region_code, region_en, region_ka, places in REGIONS:
        squares = []
        municipalities: list[dict[str, Any]] = []
        for number, (name_en, name_ka, lat, lng, districts) in enumerate(places, start=1):
            nearest = min(
                max(abs(lat - other_lat), abs(lng - other_lng))
                for other_lat, other_lng in centres
                if (other_lat, other_lng) != (lat, lng)
            )
            # Under half the Chebyshev distance: two such squares can never overlap.
            half = round(min(MAX_HALF, nearest * 0.49), DIGITS)
            west, east = round(lng - half, DIGITS), round(lng + half, DIGITS)
            south, north = round(lat - half, DIGITS), round(lat + half, DIGITS)
            square = box(west, south, east, north)
            squares.append(square)
            code = f"{region_code}-{number:02d}"
            municipalities.append(
                _feature(code, "municipality", name_en, name_ka, region_code, _round(square))
            )
            edges = [round(west + (east - west) * i / districts, DIGITS) for i in range(districts)]
            edges.append(east)
            for d in range(districts):
                strip = box(edges[d], south, edges[d + 1], north)
                municipalities.append(
                    _feature(
                        f"{code}-D{d + 1}",
                        "electoral_district",
                        f"{name_en} district {d + 1}",
                        f"{name_ka}, საარჩევნო ოლქი {d + 1}",
                        code,
                        _round(strip),
                    )
                )
        union = unary_union(squares)
        region = union if isinstance(union, MultiPolygon) else MultiPolygon([union])
        features.append(_feature(region_code, "region", region_en, region_ka, None, _round(region)))
        features.extend(municipalities)
    return {"type": "FeatureCollection", "features": features}


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
