"""Benchmark: validating a whole catalog (render + schemas + cross-checks).

Compares, in the same run and on the same synthetic catalog:

* naive      -- a fresh SchemaRegistry per dataset (every validator and its
                $ref graph rebuilt each time), one process;
* cached/1   -- validate_many with one process (validators built once);
* cached/2   -- validate_many with two worker processes.

Usage::

    python benchmarks/bench_validate.py            # 200 datasets (< 2 minutes)
    python benchmarks/bench_validate.py --full     # 1,000 datasets
    python benchmarks/bench_validate.py -n 50 --naive-n 20

Needs CATALOG_BOT_SCHEMAS (defaults to /work/shared/contracts/schemas).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.catalog.layout import Catalog  # noqa: E402
from bot.catalog.schemas import SchemaRegistry  # noqa: E402
from bot.catalog.validate import load_and_validate_dataset, load_profiles, make_renderer, validate_many  # noqa: E402

EXAMPLE = ROOT / "catalog_templates" / "example"


def make_catalog(root: Path, n: int) -> None:
    """The team's synthetic generator if present, else clones of the example datasets."""
    try:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from synthetic_catalog import make_catalog as team_make_catalog  # type: ignore[import-not-found]
    except ImportError:
        team_make_catalog = None
    if team_make_catalog is not None:
        team_make_catalog(root, n)
        return
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("datasets"))
    sources = sorted((EXAMPLE / "datasets").iterdir())
    for i in range(n):
        src = sources[i % len(sources)]
        new_id = f"{src.name}-{i:04d}"
        dest = root / "datasets" / new_id
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("data"))
        for name in ("collection.jsonnet", "datapackage.json"):
            path = dest / name
            path.write_text(re.sub(rf"\b{re.escape(src.name)}\b(?![-.])", new_id, path.read_text()))


def naive(catalog: Catalog, ids: list[str], mirror: Path) -> int:
    renderer = make_renderer(catalog)
    profiles = load_profiles(catalog.root)
    errors = 0
    for ds in ids:
        registry = SchemaRegistry(mirror, None)  # nothing reused between datasets
        _, problems = load_and_validate_dataset(catalog, catalog.dataset(ds), renderer, registry, profiles)
        errors += len(problems)
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="datasets in the synthetic catalog")
    parser.add_argument("--full", action="store_true", help="1,000 datasets")
    parser.add_argument("--naive-n", type=int, default=50, help="datasets for the naive baseline (it is slow)")
    args = parser.parse_args()
    n = 1000 if args.full else args.n
    mirror = Path(os.environ.get("CATALOG_BOT_SCHEMAS", "/work/shared/contracts/schemas"))
    os.environ["CATALOG_BOT_SCHEMAS"] = str(mirror)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "catalog"
        t0 = time.perf_counter()
        make_catalog(root, n)
        catalog = Catalog.open(root)
        ids = catalog.ids()
        print(f"synthetic catalog: {len(ids)} datasets in {time.perf_counter() - t0:.1f}s  (cpus: {os.cpu_count()})")

        rows = []
        naive_ids = ids[: min(args.naive_n, len(ids))]
        t = time.perf_counter()
        naive_problems = naive(catalog, naive_ids, mirror)
        rows.append(("naive (fresh registry per dataset)", len(naive_ids), time.perf_counter() - t, naive_problems))

        for processes in (1, 2):
            registry = SchemaRegistry(mirror, None)
            t = time.perf_counter()
            result = validate_many(catalog, ids, registry=registry, processes=processes)
            elapsed = time.perf_counter() - t
            rows.append((f"validate_many processes={processes}", len(ids), elapsed, sum(map(len, result.values()))))

        print(f"{'approach':<40} {'datasets':>8} {'seconds':>8} {'datasets/s':>11} {'problems':>9}")
        for name, count, seconds, problems in rows:
            print(f"{name:<40} {count:>8} {seconds:>8.2f} {count / seconds:>11.1f} {problems:>9}")


if __name__ == "__main__":
    main()
