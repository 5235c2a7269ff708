"""What the render sandbox costs: ``catalog-bot render`` in process vs in sandboxed children.

Run: python benchmarks/bench_sandbox.py [--sizes 1,30,300] [--pairs 5]

Why: every privileged job (and every ``catalog-bot event``) evaluates Jsonnet in
child processes with an allow-listed environment and resource limits
(bot/catalog/sandbox.py).  This measures the price through the CLI, on the
synthetic catalog (benchmarks/synthetic_catalog.py): for each size, interleaved
pairs of ``catalog-bot render -c ROOT`` with ``CATALOG_BOT_RENDER_SANDBOX`` unset
(baseline: in-process rendering, as on a curator's laptop without secrets) and
set to 1; the median of each side and of the per-pair differences is reported.
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
sys.path[:0] = [str(HERE), str(HERE.parent)]

from synthetic_catalog import make_catalog  # noqa: E402


def _run(root: Path, sandbox: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k != "CATALOG_BOT_RENDER_SANDBOX"}
    if sandbox:
        env["CATALOG_BOT_RENDER_SANDBOX"] = "1"
    exe = shutil.which("catalog-bot") or "catalog-bot"
    started = time.perf_counter()
    proc = subprocess.run([exe, "render", "-c", str(root)], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"render failed (sandbox={sandbox}): {proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,30,300")
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'datasets':>8} {'in-process s':>13} {'sandboxed s':>12} {'overhead s':>11}")
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            root = make_catalog(Path(tmp) / f"cat-{n}", n, seed=1)
            _run(root, False)  # warm the page cache and the engines' imports
            plain, boxed = [], []
            for i in range(args.pairs):
                order = (False, True) if i % 2 == 0 else (True, False)
                for sandbox in order:
                    (boxed if sandbox else plain).append(_run(root, sandbox))
            diffs = [b - p for p, b in zip(plain, boxed, strict=True)]
            print(
                f"{n:>8} {statistics.median(plain):>13.2f} {statistics.median(boxed):>12.2f} "
                f"{statistics.median(diffs):>+11.2f}"
            )


if __name__ == "__main__":
    main()
