"""Cost of `catalog-bot check` follows the change, not the catalog size.

Run: python benchmarks/bench_check.py [--sizes 5,1000] [--full] [--repeat 5] [--no-naive]

For each catalog size builds a synthetic catalog (benchmarks/synthetic_catalog.py),
commits it on ``main``, changes the datapackage title of 5 datasets on a branch and
times ``run_check(GitRepo(root), "main", "feature")``; a second branch changes only a lib
that the same 5 datasets import.  Also times the naive approach (render and check
every dataset, ``--all``) once on the same repository (~40 s at 1,000 datasets).
Target: the 1,000-dataset check at most 1.5x the 5-dataset one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_catalog import make_catalog

from bot.adapters.git import GitRepo
from bot.catalog.check import run_check
from bot.config import Settings

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@e",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@e",
}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=GIT_ENV)


def prepare(root: Path, n: int, touched: int = 5) -> list[str]:
    """Catalog of ``n`` datasets on ``main``; 5 of them import ``lib/bench.libsonnet``.

    Branch ``feature``: the datapackage title of those 5 changes.  Branch
    ``feature-lib``: only ``lib/bench.libsonnet`` changes (the check must scan
    imports of all collections to find the same 5).
    """
    make_catalog(root, n)
    ids = sorted(p.name for p in (root / "datasets").iterdir() if p.is_dir())
    step = max(1, len(ids) // touched)
    chosen = ids[::step][:touched]
    (root / "lib" / "bench.libsonnet").write_text("{ note: 'v1' }\n")
    for ds in chosen:
        coll = root / "datasets" / ds / "collection.jsonnet"
        coll.write_text("local bench = import 'bench.libsonnet';\n" + coll.read_text())
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "catalog")
    git(root, "checkout", "-q", "-b", "feature-lib")
    (root / "lib" / "bench.libsonnet").write_text("{ note: 'v2' }\n")
    git(root, "commit", "-q", "-am", "lib")
    git(root, "checkout", "-q", "-b", "feature", "main")
    for ds in chosen:
        path = root / "datasets" / ds / "datapackage.json"
        doc = json.loads(path.read_text())
        doc["title"] = str(doc.get("title", ds)) + " (revised)"
        path.write_text(json.dumps(doc, indent=2))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "retitle")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="5,1000")
    parser.add_argument("--full", action="store_true", help="sizes 5,1000,5000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--no-naive", dest="naive", action="store_false", help="skip the naive full check (--all renders every dataset)"
    )
    args = parser.parse_args()
    sizes = [5, 1000, 5000] if args.full else [int(s) for s in args.sizes.split(",")]
    if not os.environ.get("CATALOG_BOT_SCHEMAS"):
        mirror = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "schemas"
        if mirror.is_dir():
            os.environ["CATALOG_BOT_SCHEMAS"] = str(mirror)
    settings = Settings.from_env()
    scenarios = (("datapackage edits", "feature"), ("lib edit", "feature-lib"))
    with tempfile.TemporaryDirectory() as tmp:
        roots: dict[int, tuple[Path, list[str], float]] = {}
        for n in sizes:
            root = Path(tmp) / f"cat{n}"
            t0 = time.perf_counter()
            chosen = prepare(root, n)
            roots[n] = (root, chosen, time.perf_counter() - t0)
            run_check(GitRepo(root), "main", "feature", settings)  # warm-up (imports, schema registry)
        # Interleave sizes in every round, so load from other processes hits all cells alike.
        times: dict[tuple[str, int], list[float]] = {}
        errors: dict[tuple[str, int], int] = {}
        for _ in range(args.repeat):
            for n in sizes:
                root, chosen, _build = roots[n]
                for scenario, head in scenarios:
                    t0 = time.perf_counter()
                    report = run_check(GitRepo(root), "main", head, settings)
                    times.setdefault((scenario, n), []).append(time.perf_counter() - t0)
                    assert sorted(report.touched) == sorted(chosen), (report.touched, chosen)
                    errors[(scenario, n)] = len(report.errors)
        naive: dict[int, float] = {}
        if args.naive:
            for n in sizes:
                t0 = time.perf_counter()
                run_check(GitRepo(roots[n][0]), "main", "feature", settings, all_datasets=True)
                naive[n] = time.perf_counter() - t0
    print(f"check of a change touching 5 datasets: best and median of {args.repeat} interleaved runs")
    header = f"{'scenario':<19}{'datasets':>9}{'best (s)':>10}{'median (s)':>12}{'best vs 5-ds':>14}"
    print(header + f"{'naive --all (s)':>17}{'build (s)':>11}{'errors':>8}")
    worst = 0.0
    for scenario, _head in scenarios:
        base = min(times[(scenario, sizes[0])])
        for n in sizes:
            cell = times[(scenario, n)]
            best, med = min(cell), statistics.median(cell)
            worst = max(worst, best / base)
            naive_text = f"{naive[n]:.2f}" if n in naive and scenario == scenarios[0][0] else "-"
            print(
                f"{scenario:<19}{n:>9}{best:>10.3f}{med:>12.3f}{best / base:>13.2f}x"
                f"{naive_text:>17}{roots[n][2]:>11.1f}{errors[(scenario, n)]:>8}"
            )
    print(f"target <= 1.5x: {'met' if worst <= 1.5 else 'NOT met'} (worst {worst:.2f}x, best-of-{args.repeat})")
    print("errors: problems the synthetic catalog itself has (same in every run; validation runs in full)")


if __name__ == "__main__":
    main()
