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

Ratios are medians over the rounds with min and max, from wall time and
from CPU time (user + system of the publish process and its children): on
a machine shared with other work the CPU ratios are the steadier figure.

    python benchmarks/bench_publish_scale.py --copies 1,4,34 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import resource
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

from _installed import compile_bot  # noqa: E402
from bench_rerun import make_catalog  # noqa: E402


def _cli() -> list[str]:
    exe = shutil.which("catalog-bot")
    return [exe] if exe else [sys.executable, "-m", "bot"]


def publish(catalog: Path, output: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ``catalog-bot publish --all``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(
        [*_cli(), "publish", "-C", str(catalog), "--all", "--output", str(output)], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        raise SystemExit(f"publish of {catalog} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _fmt(values: list[float], pct: bool = False) -> str:
    f = (lambda v: f"{v:.1%}") if pct else (lambda v: f"{v:.2f}x")
    return f"median {f(statistics.median(values))} (min {f(min(values))}, max {f(max(values))})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", default="1,4,34", help="copies of the 3 example datasets: small,medium,large")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    compile_bot()  # every publish is a fresh CLI process: start it like an installed bot (_installed.py)
    copies = [int(c) for c in args.copies.split(",")]
    sizes = [3 * c for c in copies]
    ratios: dict[str, dict[str, list[float]]] = {
        k: {"marginal": [], "average": [], "rerun": []} for k in ("wall", "CPU")
    }
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        catalogs = [make_catalog(Path(tmp) / f"cat-{n}", c) for n, c in zip(sizes, copies, strict=True)]
        for r in range(args.rounds):
            runs = [publish(cat, Path(tmp) / f"out-{r}-{n}") for cat, n in zip(catalogs, sizes, strict=True)]
            again = publish(catalogs[-1], Path(tmp) / f"out-{r}-{sizes[-1]}")
            ns, nm, nb = sizes
            for i, kind in enumerate(("wall", "CPU")):
                s, m, big = (t[i] for t in runs)
                ratios[kind]["marginal"].append(((big - m) / (nb - nm)) / ((m - s) / (nm - ns)))
                ratios[kind]["average"].append((big / nb) / (m / nm))
                ratios[kind]["rerun"].append(again[i] / big)
            print(
                f"round {r + 1}: "
                + ", ".join(f"{n} datasets {w:.1f}s (CPU {c:.1f}s)" for n, (w, c) in zip(sizes, runs, strict=True))
                + f", re-run of {nb}: {again[0]:.2f}s (CPU {again[1]:.2f}s)",
                flush=True,
            )
            for n in sizes:
                shutil.rmtree(Path(tmp) / f"out-{r}-{n}", ignore_errors=True)
    for kind, found in ratios.items():
        print(
            f"{kind:4s} marginal cost per dataset, {sizes[-1]} vs {sizes[1]}: {_fmt(found['marginal'])}  goal <= 1.3x"
        )
        print(f"{kind:4s} average cost per dataset, {sizes[-1]} vs {sizes[1]}:  {_fmt(found['average'])}")
        print(
            f"{kind:4s} no-change re-run of {sizes[-1]} vs first publish: {_fmt(found['rerun'], pct=True)}  goal <= 10%"
        )
    wall = ratios["wall"]
    return 0 if statistics.median(wall["marginal"]) <= 1.3 and statistics.median(wall["rerun"]) <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
