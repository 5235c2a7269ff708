"""Publish cost per dataset as the catalog grows, and the no-change re-run, through the CLI.

Why through the CLI: what a merge pays is ``catalog-bot publish --all`` in a
fresh interpreter (start-up, imports, one pygeoapi configuration, the lock
per dataset), not an in-process call.  Catalogs are the example's three
datasets (one points GeoJSON, one CSV, one NetCDF grid) copied k times.

Each round publishes a small, a medium and a large catalog into fresh
output folders (interleaved, so machine load hits all sizes alike), then
re-runs the large one with nothing changed.  Reported per round:

- **marginal cost per dataset**: (t(large) - t(medium)) / (n(large) - n(medium))
  against (t(medium) - t(small)) / (n(medium) - n(small)); fixed costs
  (start-up, first imports) cancel, so a ratio near 1 means linear cost
  (goal <= 1.3);
- **average cost per dataset**: t(large)/n(large) vs t(medium)/n(medium);
- **no-change re-run**: t(re-run large) / t(first publish large) (goal <= 10%).

Ratios are medians over the rounds with min and max.

    python benchmarks/bench_publish_scale.py --copies 1,4,34 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("CATALOG_BOT_SCHEMAS", str(HERE.parents[1] / "shared" / "contracts" / "schemas"))

from bench_rerun import make_catalog  # noqa: E402


def _cli() -> list[str]:
    exe = shutil.which("catalog-bot")
    return [exe] if exe else [sys.executable, "-m", "bot"]


def publish(catalog: Path, output: Path) -> float:
    start = time.perf_counter()
    run = subprocess.run(
        [*_cli(), "publish", "-C", str(catalog), "--all", "--output", str(output)], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"publish of {catalog} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return elapsed


def _fmt(values: list[float], pct: bool = False) -> str:
    f = (lambda v: f"{v:.1%}") if pct else (lambda v: f"{v:.2f}x")
    return f"median {f(statistics.median(values))} (min {f(min(values))}, max {f(max(values))})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", default="1,4,34", help="copies of the 3 example datasets: small,medium,large")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    copies = [int(c) for c in args.copies.split(",")]
    sizes = [3 * c for c in copies]
    marginal, average, rerun = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        catalogs = [make_catalog(Path(tmp) / f"cat-{n}", c) for n, c in zip(sizes, copies, strict=True)]
        for r in range(args.rounds):
            times = [publish(cat, Path(tmp) / f"out-{r}-{n}") for cat, n in zip(catalogs, sizes, strict=True)]
            again = publish(catalogs[-1], Path(tmp) / f"out-{r}-{sizes[-1]}")
            (s, m, big), (ns, nm, nb) = times, sizes
            marginal.append(((big - m) / (nb - nm)) / ((m - s) / (nm - ns)))
            average.append((big / nb) / (m / nm))
            rerun.append(again / big)
            print(
                f"round {r + 1}: "
                + ", ".join(f"{n} datasets {t:.1f}s" for n, t in zip(sizes, times, strict=True))
                + f", re-run of {nb}: {again:.2f}s",
                flush=True,
            )
            for n in sizes:
                shutil.rmtree(Path(tmp) / f"out-{r}-{n}", ignore_errors=True)
    print(f"marginal cost per dataset, {sizes[-1]} vs {sizes[1]}: {_fmt(marginal)}  goal <= 1.3x")
    print(f"average cost per dataset, {sizes[-1]} vs {sizes[1]}:  {_fmt(average)}")
    print(f"no-change re-run of {sizes[-1]} vs first publish: {_fmt(rerun, pct=True)}  goal <= 10%")
    return 0 if statistics.median(marginal) <= 1.3 and statistics.median(rerun) <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
