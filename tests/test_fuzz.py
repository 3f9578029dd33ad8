"""Property-based tests of the readers and the geometry repair (hypothesis).

The property, for any input: a clear error (a :class:`geogrid.errors.GeogridError`, a
``ValueError``, with a one-line message) or a result whose totals reconcile with the input
(every row in the output or in ``excluded``; households likewise) and whose text is the
input's, unchanged. Runs are bounded and reproducible (``derandomize=True``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geogrid.errors import GeogridError
from geogrid.io.readers import read_layer
from geogrid.study.demand import prepare_demand
from geogrid.study.exclusions import Exclusions
from geogrid.study.facilities import prepare_facilities

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
X0, Y0 = 401_000.0, 4_502_000.0  # a metric CRS (EPSG:4546, CGCS2000 / 3-degree GK CM 111E)
CRS = "EPSG:4546"

# --------------------------------------------------------------------------- strategies

offset = st.floats(min_value=-500, max_value=500, allow_nan=False, allow_infinity=False)
huge = st.sampled_from([1e15, -1e15, 1e300, 3.4e38])
coord = st.one_of(offset, offset.map(round), huge)  # rounding makes ties


@st.composite
def ring(draw: Any, n_min: int = 0) -> list[tuple[float, float]]:
    n = draw(st.integers(min_value=n_min, max_value=8))
    return [(X0 + draw(coord), Y0 + draw(coord)) for _ in range(n)]


@st.composite
def geometry(draw: Any) -> Any:
    """Points, polygons (self-intersecting, with holes inside or out, degenerate, huge), empty."""
    kind = draw(st.sampled_from(["polygon", "polygon", "holed", "point", "empty", "none", "line"]))
    if kind == "point":
        return shapely.Point(X0 + draw(coord), Y0 + draw(coord))
    if kind == "empty":
        return draw(st.sampled_from([shapely.Point(), shapely.Polygon()]))
    if kind == "none":
        return None
    if kind == "line":
        return shapely.LineString(draw(ring(n_min=2)))
    shell = draw(ring(n_min=0))
    if len(shell) < 3:  # degenerate: a polygon needs 3 distinct points; build it raw
        pts = (shell + [(X0, Y0)] * 3)[:3]
        return shapely.polygons(shapely.linearrings(pts + [pts[0]]))
    holes = [draw(ring(n_min=3))] if kind == "holed" else []
    return shapely.Polygon(shell, holes)


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(min_value=0, max_value=5000),
)
cell = st.one_of(numbers, st.text(max_size=8), st.none())


def _one_line_error(exc: BaseException) -> None:
    assert isinstance(exc, GeogridError | ValueError), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    assert text and "\n" not in text, text


def _check_demand(gdf: gpd.GeoDataFrame) -> None:
    excl = Exclusions()
    try:
        out = prepare_demand(gdf, exclusions=excl)
    except GeogridError as exc:
        _one_line_error(exc)
        return
    assert len(out) + len(excl) == len(gdf)
    assert set(out["unit_id"].astype(str)) | set(excl.frame()["source_id"]) == {
        str(i) for i in range(len(gdf))
    }
    geoms = np.asarray(out.geometry.values, dtype=object)
    assert not shapely.is_empty(geoms).any()
    assert np.isfinite(shapely.bounds(geoms)).all()
    assert shapely.is_valid(geoms).all()
    polys = np.isin(shapely.get_type_id(geoms), [3, 6])
    assert (shapely.area(geoms[polys]) > 0).all()
    hh = out["households"].to_numpy(dtype=float)
    assert np.isfinite(hh).all() and (hh >= 0).all()
    if "households" in gdf.columns:
        given_hh = pd.to_numeric(gdf["households"], errors="coerce").fillna(0).sum()
        # households are whole numbers (totals kept per community); the fraction stays in
        # households_est, which must add up exactly
        est = out["households_est"] if "households_est" in out.columns else out["households"]
        total = est.to_numpy(dtype=float).sum() + excl.households("demand")
        # households_est is rounded to 3 decimals
        assert math.isclose(total, given_hh, rel_tol=1e-9, abs_tol=1e-3 * len(gdf))
        assert abs(hh.sum() + excl.households("demand") - given_hh) <= 1.0 + 1e-9 * abs(given_hh)


# --------------------------------------------------------------------------- geometry repair


@FUZZ
@given(st.lists(geometry(), min_size=1, max_size=12))
def test_geometry_repair_reconciles(geoms: list[Any]) -> None:
    """Footprints only (households estimated): repaired, or excluded with a reason."""
    _check_demand(
        gpd.GeoDataFrame({"building": ["residential"] * len(geoms)}, geometry=geoms, crs=CRS)
    )


@FUZZ
@given(st.lists(st.tuples(geometry(), numbers), min_size=1, max_size=12))
def test_households_and_geometry_reconcile(rows: list[tuple[Any, Any]]) -> None:
    """Any geometry with any households value: a clear error, or every household counted."""
    geoms, hh = zip(*rows, strict=True)
    gdf = gpd.GeoDataFrame({"households": list(hh)}, geometry=list(geoms), crs=CRS)
    _check_demand(gdf)


@FUZZ
@given(st.lists(cell, min_size=1, max_size=10), st.lists(cell, min_size=1, max_size=10))
def test_numeric_columns(hh: list[Any], party: list[Any]) -> None:
    """Text, NaN, inf, huge and negative values in households and party_members."""
    n = min(len(hh), len(party))
    pts = [shapely.Point(X0 + 10 * i, Y0) for i in range(n)]
    gdf = gpd.GeoDataFrame(
        {"households": pd.Series(hh[:n], dtype=object), "party_members": party[:n]},
        geometry=pts,
        crs=CRS,
    )
    _check_demand(gdf)


# --------------------------------------------------------------------------- text columns

any_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "{{ 7*7 }}",
            "{% for x in range(9) %}x{% endfor %}",
            "{# c #}",
            "</script><script>alert(1)</script>",
            "'\"\\",
            "%s %(name)s {0} {name}",
            "\x1b[31m\r\n\t\x0b\x0c",
            "党群服务站\u200b",
            "=cmd|' /C calc'!A0",
            "../../etc/passwd",
        ]
    ),
)


@FUZZ
@given(st.lists(st.tuples(any_text, any_text, any_text), min_size=1, max_size=8))
def test_facility_text_is_data(rows: list[tuple[str, str, str]]) -> None:
    """Any text as name, type and another column: names kept verbatim, rows reconcile."""
    names, types, notes = (list(c) for c in zip(*rows, strict=True))
    pts = [shapely.Point(X0 + 10 * i, Y0) for i in range(len(rows))]
    gdf = gpd.GeoDataFrame({"name": names, "type": types, "备注": notes}, geometry=pts, crs=CRS)
    excl = Exclusions()
    out = prepare_facilities(gdf, exclusions=excl)
    assert len(out) + len(excl) == len(gdf)
    kept = out["facility_id"].map(lambda f: int(f[1:]) - 1)
    assert out["name"].tolist() == [names[i] for i in kept]
    assert out["备注"].tolist() == [notes[i] for i in kept]
    assert set(out["type"]) <= {
        "centre_city",
        "centre_district",
        "centre_street",
        "centre_community",
        "station",
        "liaison_point",
        "recharge_station",
        "facility",
    }


csv_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)


#: Cells pandas reads as missing or as numbers whatever the column: the CSV reader infers
#: column types the pandas way (``"0"`` in a column with blanks comes back as ``0.0``,
#: ``"00"`` as ``0``, ``"NA"`` as missing, ``"FALSE"`` as a boolean), so the round trip is
#: checked for other text (reported for the readers: codes with leading zeros lose them).
_PANDAS_NA = {
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    "True", "TRUE", "true", "False", "FALSE", "false",
}  # fmt: skip


def _plain_text(text: str) -> bool:
    if text.strip() in _PANDAS_NA or text != text.strip():
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


@FUZZ
@given(
    st.lists(
        st.tuples(csv_text.filter(_plain_text), st.floats(-180, 180), st.floats(-90, 90)),
        min_size=1,
        max_size=6,
    )
)
def test_csv_reader(tmp_path_factory: pytest.TempPathFactory, rows: list[Any]) -> None:
    """A point table with any text: read back verbatim, or refused with a clear error."""
    folder: Path = tmp_path_factory.mktemp("csv")
    df = pd.DataFrame(rows, columns=["name", "lon", "lat"])
    path = folder / "points.csv"
    df.to_csv(path, index=False, encoding="utf-8")
    try:
        got = read_layer(path, crs="wgs84")
    except GeogridError as exc:
        _one_line_error(exc)
        return
    assert len(got) == len(df)
    assert got["name"].tolist() == df["name"].tolist()


@FUZZ
@given(st.lists(st.tuples(csv_text, geometry()), min_size=1, max_size=6))
def test_geopackage_reader_and_demand(
    tmp_path_factory: pytest.TempPathFactory, rows: list[Any]
) -> None:
    """Any text and geometry written to a GeoPackage: read, then prepared, reconcile."""
    folder: Path = tmp_path_factory.mktemp("gpkg")
    names, geoms = (list(c) for c in zip(*rows, strict=True))
    gdf = gpd.GeoDataFrame(
        {"name": names, "households": 10.0}, geometry=gpd.GeoSeries(geoms), crs=CRS
    )
    path = folder / "demand.gpkg"
    gdf.to_file(path, layer="demand", driver="GPKG")
    try:
        got = read_layer(path)
    except GeogridError as exc:
        _one_line_error(exc)
        return
    dropped = len(got.attrs.get("rows_without_geometry", []))
    assert len(got) + dropped == len(gdf)
    _check_demand(got)


lonlat = st.one_of(
    st.tuples(st.floats(100, 125), st.floats(20, 45)),
    st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)),
    st.just((0.0, 0.0)),
)


@FUZZ
@given(st.lists(st.tuples(lonlat, numbers), min_size=1, max_size=8))
def test_lonlat_points_reconcile(rows: list[Any]) -> None:
    """Points declared WGS84, some far outside lon/lat range: a clear error or all counted."""
    pts = [shapely.Point(x, y) for (x, y), _ in rows]
    gdf = gpd.GeoDataFrame({"households": [h for _, h in rows]}, geometry=pts, crs="EPSG:4326")
    _check_demand(gdf)


@FUZZ
@given(st.lists(st.tuples(any_text, any_text), min_size=1, max_size=6))
def test_community_codes_and_names(rows: list[tuple[str, str]]) -> None:
    """Any text as community_code and name: refused by name, or kept verbatim (codes trimmed)."""
    from geogrid.study.area import prepare_communities

    codes, names = (list(c) for c in zip(*rows, strict=True))
    polys = [shapely.box(X0 + 100 * i, Y0, X0 + 100 * i + 90, Y0 + 90) for i in range(len(rows))]
    gdf = gpd.GeoDataFrame({"community_code": codes, "name": names}, geometry=polys, crs=CRS)
    try:
        out = prepare_communities(gdf, CRS)
    except GeogridError as exc:
        _one_line_error(exc)
        stripped = [c.strip() for c in codes]
        assert "" in stripped or len(set(stripped)) < len(stripped)
        return
    assert out["community_code"].tolist() == [c.strip() for c in codes]
    assert out["name"].tolist() == names
