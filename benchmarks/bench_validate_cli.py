"""Full validation of a synthetic catalog through the CLI: ``catalog-bot validate`` of every dataset.

Why a CLI benchmark next to ``bench_validate.py`` (in-process): a GitHub job
pays interpreter start-up, imports, rendering and validation in one
process, and that is what the issue's "datasets per second" means.  Each run
is a fresh ``catalog-bot validate -C CATALOG``; the rate is reported as
median (min, max) over the runs.  Goal (#16): >= 100 datasets/s on 2 cores.

CPU time (user + system of the CLI and its worker processes) is reported
too: on a machine shared with other work the wall rate says more about the
load than about us, while ``datasets / (CPU seconds / cores)`` is the rate
two otherwise idle cores would reach if the work divides evenly between
them (the workers take chunks of one pool, so it does; the serial parts --
start-up, worker spawn, the summary -- are inside the CPU figure).

    python benchmarks/bench_validate_cli.py --datasets 1000 --runs 5
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

from synthetic_catalog import make_catalog  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cores", type=int, default=2, help="cores the CPU-bound rate assumes (the goal's 2)")
    args = parser.parse_args(argv)
    exe = shutil.which("catalog-bot")
    cli = [exe] if exe else [sys.executable, "-m", "bot"]
    rates, cpu_rates = [], []
    with tempfile.TemporaryDirectory(prefix="bench-validate-cli-") as tmp:
        catalog = make_catalog(Path(tmp) / "catalog", args.datasets)
        for i in range(args.runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            run = subprocess.run([*cli, "validate", "-C", str(catalog)], capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            if run.returncode not in (0, 1):
                raise SystemExit(f"validate failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
            rates.append(args.datasets / elapsed)
            cpu_rates.append(args.datasets / (cpu / args.cores))
            print(
                f"run {i + 1}: {elapsed:.2f}s = {rates[-1]:.0f} datasets/s; CPU {cpu:.2f}s"
                f" = {cpu_rates[-1]:.0f} datasets/s on {args.cores} idle cores (exit {run.returncode})",
                flush=True,
            )
    median = statistics.median(rates)
    print(f"{args.datasets} datasets: median {median:.0f} datasets/s (min {min(rates):.0f}, max {max(rates):.0f})")
    print(
        f"CPU-bound rate on {args.cores} cores: median {statistics.median(cpu_rates):.0f} datasets/s"
        f" (min {min(cpu_rates):.0f}, max {max(cpu_rates):.0f})"
    )
    return 0 if median >= 100 else 1


if __name__ == "__main__":
    sys.exit(main())
