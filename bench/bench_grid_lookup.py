"""Point → grid lookup throughput: the lattice index, the R-tree index that cities with irregular grids get
(here over the same 5,273 Xiamen polygons, so the two are comparable), and a one-query-per-point baseline.

Prints one JSON object. Run: ``.venv/bin/python bench/bench_grid_lookup.py [N]``.
Target (Foundation issue): ≥ 100,000 lookups/s.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cityops.city import TreeIndex  # noqa: E402
from fixtures.xiamen import load_city  # noqa: E402


def main(n: int = 200_000) -> dict:
    city = load_city()
    index = city.index
    rng = np.random.default_rng(42)
    minx, miny, maxx, maxy = 117.886, 24.418, 118.415, 24.903
    lons = rng.uniform(minx, maxx, n).tolist()
    lats = rng.uniform(miny, maxy, n).tolist()

    t0 = time.perf_counter()
    found = [index.lookup(x, y) for x, y in zip(lons, lats, strict=True)]
    lattice_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    index.lookup_many(np.asarray(lons), np.asarray(lats))
    many_s = time.perf_counter() - t0

    # Baseline: an R-tree over the grid polygons, one query per point (what a naive service would do).
    codes = list(city.grids)
    tree = shapely.STRtree([city.grids[c].geometry for c in codes])
    m = min(n, 20_000)
    t0 = time.perf_counter()
    for x, y in zip(lons[:m], lats[:m], strict=True):
        hits = tree.query(shapely.Point(x, y), predicate="intersects")
        _ = codes[int(hits.min())] if len(hits) else None
    strtree_s = time.perf_counter() - t0

    # The irregular-city path: TreeIndex, one call per point (its bucket grid) and one STRtree query per batch.
    tree_index = TreeIndex(city.grids.values())
    t0 = time.perf_counter()
    tree_found = [tree_index.lookup(x, y) for x, y in zip(lons[:m], lats[:m], strict=True)]
    tree_single_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    tree_many = tree_index.lookup_many(np.asarray(lons), np.asarray(lats))
    tree_many_s = time.perf_counter() - t0
    if tree_many[:m] != tree_found or tree_many != index.lookup_many(np.asarray(lons), np.asarray(lats)):
        raise SystemExit("R-tree and lattice lookups disagree")

    return {
        "benchmark": "grid_lookup",
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "grids": len(city.grids),
        "points": n,
        "points_in_city": sum(f is not None for f in found),
        "lattice_lookups_per_s": round(n / lattice_s),
        "lattice_vectorised_lookups_per_s": round(n / many_s),
        "baseline_strtree_lookups_per_s": round(m / strtree_s),
        "speedup_vs_baseline": round((n / lattice_s) / (m / strtree_s), 1),
        "rtree_lookups_per_s": round(m / tree_single_s),
        "rtree_vectorised_lookups_per_s": round(n / tree_many_s),
        "target_lookups_per_s": 100_000,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)))
