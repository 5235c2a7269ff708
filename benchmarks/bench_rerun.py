"""Benchmark: a no-change re-publish of the example catalog vs the first publish and a naive re-run.

Claim checked: with step fingerprints, re-running ``publish`` on an unchanged
catalog costs under 10% of the first run.  The naive approach (no resume:
``--force``, every step re-runs; uploads still skip identical objects) is
timed in the same process for comparison.

    python benchmarks/bench_rerun.py            # the example catalog (3 datasets)
    python benchmarks/bench_rerun.py --full     # 10 copies of each dataset (30 datasets)
    python benchmarks/bench_rerun.py --copies 4 --jobs 2

Times are in-process wall-clock seconds of :func:`bot.pipeline.executor.publish`
(the CLI's interpreter start-up is the same for every variant and excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("CATALOG_BOT_SCHEMAS", str(REPO.parent / "shared" / "contracts" / "schemas"))

from bot.catalog.layout import Catalog  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.pipeline.context import RunContext  # noqa: E402
from bot.pipeline.executor import publish  # noqa: E402

EXAMPLE = REPO / "catalog_templates" / "example"


def make_catalog(dest: Path, copies: int) -> Path:
    """The example catalog with each dataset copied ``copies`` times (ids suffixed -2, -3, ...)."""
    shutil.copytree(EXAMPLE, dest)
    datasets = dest / "datasets"
    originals = sorted(p for p in datasets.iterdir() if p.is_dir())
    for n in range(2, copies + 1):
        for src in originals:
            new_id = f"{src.name}-{n}"
            target = datasets / new_id
            shutil.copytree(src, target)
            dp = json.loads((target / "datapackage.json").read_text())
            dp["name"] = new_id
            for res in dp.get("resources", []):
                if res.get("name") == src.name:
                    res["name"] = new_id
            (target / "datapackage.json").write_text(json.dumps(dp, indent=2))
            coll = target / "collection.jsonnet"
            coll.write_text(coll.read_text().replace(f"id='{src.name}'", f"id='{new_id}'"))
    return dest


def timed(run: RunContext, force: bool, jobs: int) -> tuple[float, int, int]:
    start = time.perf_counter()
    report = publish(run, run.catalog.datasets(), jobs=jobs, force=force)
    elapsed = time.perf_counter() - start
    if report.failed:
        raise SystemExit(f"publish failed: {[str(o.error) for o in report.failed]}")
    steps_run = sum(o.ran for o in report.outcomes)
    return elapsed, steps_run, len(report.outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=1, help="copies of each example dataset (default 1)")
    parser.add_argument("--full", action="store_true", help="full size: 10 copies (30 datasets)")
    parser.add_argument("--jobs", type=int, default=1, help="datasets in parallel")
    parser.add_argument("--repeat", type=int, default=3, help="no-change re-runs to time (best is reported)")
    args = parser.parse_args()
    copies = 10 if args.full else args.copies

    with tempfile.TemporaryDirectory(prefix="bench-rerun-") as tmp:
        catalog = Catalog.open(make_catalog(Path(tmp) / "catalog", copies))
        env = catalog.config.environment("local")
        run = RunContext(catalog, "local", env, Path(tmp) / "out", Settings.from_env())
        first, first_steps, n = timed(run, False, args.jobs)
        reruns = [timed(run, False, args.jobs) for _ in range(args.repeat)]
        rerun, rerun_steps, _ = min(reruns)
        naive, naive_steps, _ = timed(run, True, args.jobs)

    rows = [
        ("first publish", first, first_steps),
        ("no-change re-run (fingerprints)", rerun, rerun_steps),
        ("naive re-run (--force, no resume)", naive, naive_steps),
    ]
    print(f"datasets: {n}  jobs: {args.jobs}  python {sys.version.split()[0]}")
    print(f"{'variant':<36} {'seconds':>9} {'steps run':>10} {'vs first':>9} {'vs naive':>9}")
    for name, secs, steps in rows:
        print(f"{name:<36} {secs:>9.3f} {steps:>10} {secs / first:>8.1%} {secs / naive:>8.1%}")
    print("(the first publish also pays one-time imports of pyarrow/xarray/zarr; the naive re-run is warm)")
    ok = rerun < 0.10 * first
    print(f"no-change re-run is {rerun / first:.1%} of the first run: {'OK (< 10%)' if ok else 'FAILED (>= 10%)'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
