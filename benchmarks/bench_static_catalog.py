"""Static STAC catalog: cost of publishing one dataset into a catalog of N collections.

Compares, in the same run:

- ``StaticCatalog`` (bot/stac/static.py): upsert one collection + item, ``save()``
  writes only that collection folder (and ``catalog.json`` if its child list
  changed); unchanged bytes are not rewritten.
- naive: load the whole catalog with pystac, add/replace the collection, and
  ``catalog.save(SELF_CONTAINED)`` (pystac rewrites every file every time).

Also measures a full no-op re-publish of all N datasets (idempotent path).

Usage:  python benchmarks/bench_static_catalog.py            # N=200 (< 1 min)
        python benchmarks/bench_static_catalog.py --full     # N=1000
"""

from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
import time
from pathlib import Path

import pystac

from bot.stac.build import MEDIA_PARQUET, AssetInfo, build_collection, build_item
from bot.stac.static import StaticCatalog

DP = {
    "title": "Synthetic dataset",
    "description": "Benchmark dataset",
    "keywords": ["benchmark"],
    "licenses": [{"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/"}],
    "contributors": [{"title": "Lab", "role": "publisher", "organization": "Lab"}],
}


def collection(cid: str) -> dict:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": [],
        "id": cid,
        "title": cid,
        "description": "Benchmark collection",
        "license": "CC-BY-4.0",
        "extent": {
            "spatial": {"bbox": [[140.0, -30.0, 150.0, -10.0]]},
            "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]},
        },
        "links": [],
    }


def item(cid: str, i: int) -> dict:
    meta = {
        "kind": "tabular",
        "bbox": [140.0 + i % 10, -30.0, 141.0 + i % 10, -29.0],
        "time_range": ["2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"],
        "rows": 1000 + i,
        "columns": [{"name": "x", "type": "number", "arrow_type": "double"}],
    }
    assets = {"data": AssetInfo(f"s3://bucket/{cid}/{cid}.parquet", MEDIA_PARQUET, ("data",), "data", 1000 + i)}
    return build_item(cid, DP, meta, assets, {"commit": "abc"})


def ours_publish_one(root: Path, cid: str, i: int) -> None:
    cat = StaticCatalog(root, "bench", "Bench")
    it = item(cid, i)
    cat.upsert_collection(build_collection(collection(cid), []))
    cat.upsert_item(cid, it)
    cat.upsert_collection(build_collection(collection(cid), cat.items(cid)))
    cat.save()


def naive_publish_one(root: Path, cid: str, i: int) -> None:
    href = root / "catalog.json"
    cat = pystac.Catalog.from_file(str(href)) if href.exists() else pystac.Catalog("bench", "Bench", title="Bench")
    existing = cat.get_child(cid)
    if existing is not None:
        cat.remove_child(cid)
    it = pystac.Item.from_dict(copy.deepcopy(item(cid, i)))
    coll = pystac.Collection.from_dict(build_collection(collection(cid), [it.to_dict()]))
    coll.add_item(it)
    cat.add_child(coll)
    cat.normalize_hrefs(str(root))
    cat.save(pystac.CatalogType.SELF_CONTAINED)


def seed(root: Path, n: int) -> None:
    cat = StaticCatalog(root, "bench", "Bench")
    for i in range(n):
        cid = f"ds-{i:05d}"
        it = item(cid, i)
        cat.upsert_collection(build_collection(collection(cid), [it]))
        cat.upsert_item(cid, it)
    cat.save()


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="N=1000 collections")
    parser.add_argument("-n", type=int, default=None, help="number of collections (default 200, --full 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="single-dataset publishes to time")
    args = parser.parse_args()
    n = args.n or (1000 if args.full else 200)
    base = Path(tempfile.mkdtemp(prefix="bench-static-"))
    try:
        root = base / "stac"
        t_seed = timed(seed, root, n)
        # naive and ours start from the same seeded catalog (copies).
        naive_root = base / "naive"
        shutil.copytree(root, naive_root)
        ours = [timed(ours_publish_one, root, f"ds-{i:05d}", i + 1) for i in range(args.repeat)]
        naive = [timed(naive_publish_one, naive_root, f"ds-{i:05d}", i + 1) for i in range(min(args.repeat, 3))]

        def noop_all() -> None:
            cat = StaticCatalog(root, "bench", "Bench")
            for cid in cat.collection_ids():
                for it in cat.items(cid):
                    cat.upsert_item(cid, it)
            assert cat.save() == []

        t_noop = timed(noop_all)
        mean_ours = sum(ours) / len(ours)
        mean_naive = sum(naive) / len(naive)
        print(f"static catalog with N={n} collections (1 item each); seed (first save of all): {t_seed:.2f} s")
        print(f"{'operation':<48} {'seconds':>10}")
        print(f"{'publish 1 dataset: StaticCatalog (incremental)':<48} {mean_ours:>10.4f}")
        print(f"{'publish 1 dataset: pystac load + full save':<48} {mean_naive:>10.4f}")
        print(f"{'speed-up':<48} {mean_naive / mean_ours:>9.1f}x")
        print(f"{'re-publish all N unchanged (writes 0 files)':<48} {t_noop:>10.4f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
