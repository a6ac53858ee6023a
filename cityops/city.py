"""The city model: districts → streets → communities → unit grids, departments and responsibility.

Coordinates are GCJ-02 longitude/latitude everywhere (the system of the district boundaries we ship,
and of the Amap/AutoNavi maps Chinese bureaus use). WGS-84 GPS input must be converted at the edge.

Point → grid lookup is the hottest spatial operation (every located case, capture and sensor). When
a city's grids lie on a regular lattice (``Lattice``; the Xiamen fixture), most points resolve with two
floor() calls and a dict lookup, and only cells cut by a district border or the coastline need a
point-in-polygon test against their few pieces (``GridIndex``). Any other grids (hand-drawn polygons)
go into ``TreeIndex``: a uniform bucket grid over the polygons for one point, shapely's STRtree for a batch.

Edge rules (tested): lattice cells are half-open, ``[x0, x1) × [y0, y1)``, so a point on a shared
lattice line belongs to the cell east/north of it. Otherwise boundaries are included and a point on
the border of several grids goes to the lowest grid code. A point in the sea or outside the city
resolves to ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

# Lattice lines closer than this fraction of a cell to a point count as "on the line" (float noise).
_EDGE_EPS = 1e-9


@dataclass(frozen=True)
class District:
    code: str  # adcode, e.g. 350203
    name_zh: str
    name_en: str
    geometry: BaseGeometry = field(repr=False, compare=False)


@dataclass(frozen=True)
class Street:
    code: str  # district adcode + 3 digits
    district_code: str
    name_zh: str
    name_en: str
    geometry: BaseGeometry | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Community:
    code: str  # street code + 3 digits
    street_code: str
    district_code: str
    name_zh: str
    name_en: str
    geometry: BaseGeometry | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Grid:
    """A unit grid (单元网格, GB/T 30428.1): 15-digit code = district(6) + street(3) + community(3) + grid(3)."""

    code: str
    community_code: str
    street_code: str
    district_code: str
    cell: tuple[int, int] | None  # lattice (column, row); None when the city's grids are not on a lattice
    centroid: tuple[float, float]
    area_m2: float
    geometry: BaseGeometry = field(repr=False, compare=False)


@dataclass(frozen=True)
class Department:
    id: str
    name_zh: str
    name_en: str
    role: str
    level: str  # city | district | street
    district_code: str | None = None
    street_code: str | None = None


@dataclass(frozen=True)
class Responsibility:
    """Who handles a category owner role: the department of that role at ``level`` whose area holds the grid;
    an unlocated case (or a level-``city`` role) goes to the city-level department of ``unlocated_role``."""

    owner_role: str
    level: str  # city | district | street
    unlocated_role: str


#: The responsibility map of a city that lists none: street and district squads and sanitation stations are
#: local; unlocated cases go to the city's enforcement bureau or sanitation centre; every other role is city-wide.
DEFAULT_RESPONSIBILITY: tuple[Responsibility, ...] = (
    Responsibility("street_squad", "street", "city_enforcement"),
    Responsibility("district_squad", "district", "city_enforcement"),
    Responsibility("district_sanitation", "district", "sanitation"),
)


@dataclass(frozen=True)
class Lattice:
    """A regular lon/lat lattice; cell (i, j) spans [lon0 + i·dlon, lon0 + (i+1)·dlon) × (same for lat)."""

    lon0: float
    lat0: float
    dlon: float
    dlat: float

    def cell_of(self, lon: float, lat: float) -> tuple[int, int]:
        return (
            math.floor((lon - self.lon0) / self.dlon + _EDGE_EPS),
            math.floor((lat - self.lat0) / self.dlat + _EDGE_EPS),
        )

    def cells_of(self, lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i = np.floor((lons - self.lon0) / self.dlon + _EDGE_EPS).astype(np.int64)
        j = np.floor((lats - self.lat0) / self.dlat + _EDGE_EPS).astype(np.int64)
        return i, j

    def bounds(self, i: int, j: int) -> tuple[float, float, float, float]:
        return (
            self.lon0 + i * self.dlon,
            self.lat0 + j * self.dlat,
            self.lon0 + (i + 1) * self.dlon,
            self.lat0 + (j + 1) * self.dlat,
        )


class GridIndex:
    """Point → grid code in O(1) for whole cells; a few polygon tests for cells cut by borders."""

    def __init__(self, lattice: Lattice, grids: Iterable[Grid]) -> None:
        self.lattice = lattice
        by_cell: dict[tuple[int, int], list[Grid]] = {}
        for g in grids:
            by_cell.setdefault(g.cell, []).append(g)
        self._whole: dict[tuple[int, int], str] = {}
        self._pieces: dict[tuple[int, int], list[tuple[str, BaseGeometry]]] = {}
        for cell, members in by_cell.items():
            x0, y0, x1, y1 = lattice.bounds(*cell)
            full_area = (x1 - x0) * (y1 - y0)
            if len(members) == 1 and abs(members[0].geometry.area - full_area) <= full_area * 1e-9:
                self._whole[cell] = members[0].code
            else:
                pieces = sorted(members, key=lambda g: g.code)
                for g in pieces:
                    shapely.prepare(g.geometry)
                self._pieces[cell] = [(g.code, g.geometry) for g in pieces]

    def lookup(self, lon: float, lat: float) -> str | None:
        cell = self.lattice.cell_of(lon, lat)
        code = self._whole.get(cell)
        if code is not None:
            return code
        pieces = self._pieces.get(cell)
        if not pieces:
            return None
        for piece_code, geom in pieces:
            if shapely.intersects_xy(geom, lon, lat):
                return piece_code
        return None

    def lookup_many(self, lons: Sequence[float] | np.ndarray, lats: Sequence[float] | np.ndarray) -> list[str | None]:
        """Vectorised lookup for batches (replayers, benchmarks)."""
        lon_arr = np.asarray(lons, dtype=float)
        lat_arr = np.asarray(lats, dtype=float)
        i, j = self.lattice.cells_of(lon_arr, lat_arr)
        out: list[str | None] = []
        whole = self._whole
        for k, cell in enumerate(zip(i.tolist(), j.tolist(), strict=True)):
            code = whole.get(cell)
            if code is None and cell in self._pieces:
                code = self.lookup(float(lon_arr[k]), float(lat_arr[k]))
            out.append(code)
        return out


class TreeIndex:
    """Point → grid code over arbitrary grid polygons (cities whose grids are no lattice).

    Grids are held in code order, so "the lowest code wins" on shared borders is "the lowest index". One point
    goes through a uniform bucket grid laid over the polygons at load (:class:`_Buckets`); a batch through one
    vectorised query of shapely's STRtree.
    """

    def __init__(self, grids: Iterable[Grid]) -> None:
        ordered = sorted(grids, key=lambda g: g.code)
        self._codes = [g.code for g in ordered]
        self._geoms = np.array([g.geometry for g in ordered], dtype=object)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)
        self._buckets = _Buckets(self._codes, self._geoms)

    def lookup(self, lon: float, lat: float) -> str | None:
        """The grid holding the point (boundaries included, the lowest code on shared ones), or None."""
        return self._buckets.lookup(lon, lat)

    def lookup_many(self, lons: Sequence[float] | np.ndarray, lats: Sequence[float] | np.ndarray) -> list[str | None]:
        """One vectorised tree query for the whole batch."""
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        point_idx, geom_idx = self._tree.query(points, predicate="intersects")
        best = np.full(len(points), len(self._codes), dtype=np.int64)
        np.minimum.at(best, point_idx, geom_idx)
        codes = self._codes
        return [codes[k] if k < len(codes) else None for k in best.tolist()]



class _Buckets:
    """A uniform grid of buckets over the polygons' extent, each holding the polygons that touch it in code order.

    Why: one point through the STRtree (a box, a query, a sort) is several times dearer than two divisions, a list
    index and a prepared point-in-polygon test on a bucket's few polygons, or none for a bucket that lies wholly in
    one polygon and touches no other. Buckets are about a quarter of the median polygon's size, capped in number.
    Each bucket's box is padded by a millionth of a bucket when its polygons are chosen, so a point that float
    rounding puts in a neighbouring bucket is still tested against every polygon it can be in.
    """

    _MAX_BUCKETS = 1 << 20

    def __init__(self, codes: Sequence[str], geoms: np.ndarray) -> None:
        self._nx = self._ny = 0
        self._x0 = self._y0 = 0.0
        self._cell = 1.0
        self._slots: list[str | tuple[tuple[BaseGeometry, str], ...] | None] = []
        if not len(geoms):
            return
        bounds = shapely.bounds(geoms)
        x0, y0 = float(bounds[:, 0].min()), float(bounds[:, 1].min())
        width, height = float(bounds[:, 2].max()) - x0, float(bounds[:, 3].max()) - y0
        sizes = np.sqrt(np.maximum(bounds[:, 2] - bounds[:, 0], 0) * np.maximum(bounds[:, 3] - bounds[:, 1], 0))
        cell = float(np.median(sizes)) / 4 or max(width, height, 1e-9) / 64
        cell = max(cell, math.sqrt(max(width * height, 1e-18) / self._MAX_BUCKETS))
        nx, ny = math.floor(width / cell) + 1, math.floor(height / cell) + 1
        while nx * ny > self._MAX_BUCKETS:  # thin extents: the area bound above does not cap the count
            cell *= 2
            nx, ny = math.floor(width / cell) + 1, math.floor(height / cell) + 1
        self._x0, self._y0, self._cell, self._nx, self._ny = x0, y0, cell, nx, ny
        # (polygon, bucket) pairs whose boxes overlap, by the same arithmetic as lookup(): the pair lists are in
        # polygon order, i.e. code order
        i0 = np.clip(np.floor((bounds[:, 0] - x0) / cell), 0, nx - 1).astype(np.int64)
        i1 = np.clip(np.floor((bounds[:, 2] - x0) / cell), 0, nx - 1).astype(np.int64)
        j0 = np.clip(np.floor((bounds[:, 1] - y0) / cell), 0, ny - 1).astype(np.int64)
        j1 = np.clip(np.floor((bounds[:, 3] - y0) / cell), 0, ny - 1).astype(np.int64)
        poly_list, bucket_list = [], []
        for k in range(len(geoms)):
            ii, jj = np.meshgrid(np.arange(i0[k], i1[k] + 1), np.arange(j0[k], j1[k] + 1), indexing="ij")
            bucket_list.append((ii * ny + jj).ravel())
            poly_list.append(np.full(ii.size, k, dtype=np.int64))
        polys, slots = np.concatenate(poly_list), np.concatenate(bucket_list)
        pad = cell * 1e-6
        bi, bj = slots // ny, slots % ny
        boxes = shapely.box(x0 + bi * cell - pad, y0 + bj * cell - pad, x0 + (bi + 1) * cell + pad,
                            y0 + (bj + 1) * cell + pad)
        meets = shapely.intersects(geoms[polys], boxes)
        covers = shapely.covers(geoms[polys], boxes)
        polys, slots, covers = polys[meets], slots[meets], covers[meets]
        order = np.argsort(slots, kind="stable")  # stable: polygon (code) order within a bucket
        polys, slots, covers = polys[order], slots[order], covers[order]
        table: list[str | tuple[tuple[BaseGeometry, str], ...] | None] = [None] * (nx * ny)
        starts = np.flatnonzero(np.r_[True, slots[1:] != slots[:-1]]) if len(slots) else np.array([], dtype=np.int64)
        ends = np.r_[starts[1:], len(slots)]
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            members = polys[a:b].tolist()
            if b - a == 1 and covers[a]:
                table[int(slots[a])] = codes[members[0]]  # wholly in one polygon, touching no other
            else:
                table[int(slots[a])] = tuple((geoms[k], codes[k]) for k in members)
        self._slots = table

    def lookup(self, lon: float, lat: float) -> str | None:
        """The lowest-coded polygon holding the point (boundaries included), or None (also for NaN)."""
        fx = (lon - self._x0) / self._cell
        fy = (lat - self._y0) / self._cell
        if not (0.0 <= fx < self._nx and 0.0 <= fy < self._ny):
            return None
        slot = self._slots[int(fx) * self._ny + int(fy)]
        if slot is None or slot.__class__ is str:
            return slot
        for geom, code in slot:
            if shapely.intersects_xy(geom, lon, lat):
                return code
        return None


@dataclass
class CityModel:
    """One city: its hierarchy, departments and the responsibility map (grid × category → department)."""

    code: str
    name_zh: str
    name_en: str
    lattice: Lattice | None
    districts: dict[str, District]
    streets: dict[str, Street]
    communities: dict[str, Community]
    grids: dict[str, Grid]
    departments: dict[str, Department]
    responsibility: tuple[Responsibility, ...] = DEFAULT_RESPONSIBILITY

    @cached_property
    def index(self) -> GridIndex | TreeIndex:
        """The lattice index when every grid sits in a lattice cell, an R-tree otherwise."""
        if self.lattice is not None and all(g.cell is not None for g in self.grids.values()):
            return GridIndex(self.lattice, self.grids.values())
        return TreeIndex(self.grids.values())

    def grid_at(self, lon: float, lat: float) -> Grid | None:
        code = self.index.lookup(lon, lat)
        return self.grids[code] if code is not None else None

    def area_grids(self, level: str, code: str) -> list[Grid]:
        """The grids of a district, street, community or grid (none for the city: the map draws its districts)."""
        if level == "city":
            return []
        if level == "grid":
            return [self.grids[code]] if code in self.grids else []
        return [g for g in self.grids.values() if getattr(g, f"{level}_code") == code]

    def area_bounds(self, level: str = "city", code: str = "") -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) of an area's grids, or of the whole city's districts (level
        ``city``, or an area with no grid): what a console map fits its view to."""
        geoms = [g.geometry for g in self.area_grids(level, code)] or [d.geometry for d in self.districts.values()]
        return (min(g.bounds[0] for g in geoms), min(g.bounds[1] for g in geoms),
                max(g.bounds[2] for g in geoms), max(g.bounds[3] for g in geoms))

    # --------------------------------------------------------------------------------- hierarchy

    def ancestry(self, grid_code: str) -> dict[str, str]:
        """``{"district": …, "street": …, "community": …, "grid": …}`` for a grid code."""
        g = self.grids[grid_code]
        return {"district": g.district_code, "street": g.street_code, "community": g.community_code, "grid": g.code}

    def street_of(self, code: str) -> str | None:
        """The street of a grid or community code (None for neither): how a search by grid finds its day index."""
        area = self.grids.get(code) or self.communities.get(code)
        return area.street_code if area is not None else None

    def streets_of(self, district_code: str) -> list[Street]:
        return [s for s in self.streets.values() if s.district_code == district_code]

    def communities_of(self, street_code: str) -> list[Community]:
        return [c for c in self.communities.values() if c.street_code == street_code]

    def grids_of(self, community_code: str) -> list[Grid]:
        return [g for g in self.grids.values() if g.community_code == community_code]

    def area_name(self, code: str, lang: str = "zh") -> str:
        """Human name of any area code (district, street, community or grid)."""
        for table in (self.districts, self.streets, self.communities):
            item = table.get(code)
            if item is not None:
                return item.name_zh if lang == "zh" else item.name_en
        if code in self.grids:
            return f"网格 {code}" if lang == "zh" else f"Grid {code}"
        return code

    # ---------------------------------------------------------------------------- responsibility

    @cached_property
    def _city_department_by_role(self) -> Mapping[str, str]:
        return {d.role: d.id for d in self.departments.values() if d.level == "city"}

    @cached_property
    def _local_department(self) -> Mapping[tuple[str, str], str]:
        """``(role, district or street code) → department id`` of the district- and street-level departments."""
        out: dict[tuple[str, str], str] = {}
        for d in self.departments.values():
            area = d.street_code if d.level == "street" else d.district_code if d.level == "district" else None
            if area is not None:
                out.setdefault((d.role, area), d.id)
        return out

    @cached_property
    def _responsibility_by_role(self) -> Mapping[str, Responsibility]:
        return {r.owner_role: r for r in self.responsibility}

    def responsible_department(self, owner_role: str, grid_code: str | None) -> str:
        """The department that handles a category of ``owner_role`` in ``grid_code``.

        A district- or street-level role resolves to that role's department of the grid's district or
        street; an unlocated case (no grid) goes to the city-level department of the map's
        ``unlocated_role`` (city enforcement or sanitation); any other role to its city-level department.
        """
        rule = self._responsibility_by_role.get(owner_role)
        grid = self.grids.get(grid_code) if grid_code else None
        role = owner_role
        if rule is not None and rule.level != "city":
            if grid is not None:
                area = grid.street_code if rule.level == "street" else grid.district_code
                found = self._local_department.get((owner_role, area))
                if found is not None:
                    return found
                raise KeyError(f"no {owner_role} department for {rule.level} {area}")
            role = rule.unlocated_role
        try:
            return self._city_department_by_role[role]
        except KeyError:
            raise KeyError(f"no department has role {role!r}") from None

    def department_district(self, department_id: str) -> str | None:
        dept = self.departments.get(department_id)
        return dept.district_code if dept else None

    def iter_grid_features(self) -> Iterator[dict]:
        """GeoJSON features of every grid (for export and for the console's base map)."""
        for g in self.grids.values():
            yield {
                "type": "Feature",
                "properties": {
                    "code": g.code,
                    "community": g.community_code,
                    "street": g.street_code,
                    "district": g.district_code,
                    "area_m2": round(g.area_m2),
                },
                "geometry": shapely.geometry.mapping(g.geometry),
            }


M_PER_DEG_LON_EQUATOR = 111_320.0  # a degree of longitude on the equator; times cos(latitude) elsewhere
M_PER_DEG_LAT = 110_574.0  # a degree of latitude, at the latitudes of Chinese cities


def area_m2(geometry: BaseGeometry) -> float:
    """Approximate area in m² of a small lon/lat geometry (equirectangular at its centroid)."""
    lat = geometry.centroid.y
    kx = M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))
    return geometry.area * kx * M_PER_DEG_LAT


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (repeated-problem radius, camera ranges)."""
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))
