"""Benchmark: the three Jsonnet engines on a synthetic catalog, speed AND output parity.

Every row renders every ``collection.jsonnet`` of the same synthetic catalog
through :class:`bot.catalog.render.Renderer` (so the sandbox, the import
callback and the nesting scan are included, as in production):

* cpp / per-file   -- the C++ binding, one engine call per file (the naive
                      approach and the reference output);
* cpp / batched    -- C++, one engine call per 64 files (shared libs parsed once);
* go  / per-file, go / batched -- the Go binding, same two modes;
* rust / per-file  -- rjsonnet (no batching: it resolves snippet imports
                      against the cwd);
* auto / 2 procs   -- what the bot does: go, batched, 2 worker processes,
                      per-file fallback to cpp.

For each row: wall time, files/s, speed-up over cpp/per-file, and how many
files render to output identical to the C++ reference (canonical JSON:
sorted keys, no whitespace) -- failures count as different.

Usage::

    python benchmarks/bench_jsonnet.py               # 200 collections (< 2 minutes)
    python benchmarks/bench_jsonnet.py --full        # 1,000 collections
    python benchmarks/bench_jsonnet.py -n 50 --skip-cpp-per-file
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from synthetic_catalog import make_catalog  # noqa: E402

from bot.catalog.render import Renderer, available_engines  # noqa: E402

EXT_VARS = {"environment": "local", "data_base_url": "", "stac_api_url": "", "synthetic_run": "yes"}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def run(root: Path, files: list[Path], engine: str, batch: int, jobs: int) -> tuple[float, dict[str, str | None], int]:
    """Render all files; returns (seconds, {rel: canonical JSON or None}, fallbacks)."""
    renderer = Renderer(root, [root / "lib"], EXT_VARS, engine, batch_size=batch)
    start = time.perf_counter()
    out: dict[str, str | None] = {}
    first_error: str | None = None
    fallbacks = 0
    for res in renderer.render_many(files, jobs=jobs):
        out[res.path] = canonical(res.value) if res.ok else None
        fallbacks += engine == "auto" and res.engine == "cpp"
        if not res.ok and first_error is None:
            first_error = f"{res.path}: {res.error}"
    elapsed = time.perf_counter() - start
    if first_error:
        print(f"  [{engine}] first failure: {first_error[:300]}", file=sys.stderr)
    return elapsed, out, fallbacks


def main() -> None:
    parser = argparse.ArgumentParser(description="Jsonnet engine benchmark (speed + parity with C++)")
    parser.add_argument("-n", "--datasets", type=int, default=200)
    parser.add_argument("--full", action="store_true", help="1,000 collections (C++ per-file takes minutes)")
    parser.add_argument("--skip-cpp-per-file", action="store_true", help="use cpp/batched as the reference")
    parser.add_argument("--keep", type=Path, help="generate the catalog here and keep it")
    args = parser.parse_args()
    n = 1000 if args.full else args.datasets

    tmp = tempfile.TemporaryDirectory(prefix="bench-jsonnet-")
    root = args.keep or Path(tmp.name) / "catalog"
    make_catalog(root, n)
    files = sorted(root.glob("datasets/*/collection.jsonnet"))
    engines = available_engines()
    print(
        f"{len(files)} collections, engines installed: {', '.join(engines)}, cpus: {os.cpu_count()}, "
        f"load: {os.getloadavg()[0]:.1f}"
    )

    plan: list[tuple[str, str, str, int, int]] = []
    if not args.skip_cpp_per_file:
        plan.append(("cpp", "per-file", "cpp", 1, 1))
    plan.append(("cpp", "batched", "cpp", 64, 1))
    plan += [("go", "per-file", "go", 1, 1), ("go", "batched", "go", 64, 1)]
    if "rust" in engines:
        plan.append(("rust", "per-file", "rust", 1, 1))
    plan.append(("auto", "batched, 2 procs", "auto", 64, 2))

    rows = []
    reference: dict[str, str | None] | None = None
    base_time: float | None = None
    for label, mode, engine, batch, jobs in plan:
        print(f"running {label} / {mode} ...", file=sys.stderr, flush=True)
        seconds, out, fallbacks = run(root, files, engine, batch, jobs)
        if reference is None:
            reference, base_time = out, seconds
        same = sum(1 for k, v in out.items() if v is not None and v == reference.get(k))
        failed = sum(1 for v in out.values() if v is None)
        rows.append((label, mode, seconds, len(files) / seconds, base_time / seconds, same, failed, fallbacks))

    ref_label = "cpp/per-file" if not args.skip_cpp_per_file else "cpp/batched"
    print()
    print(
        f"| engine | mode | seconds | files/s | speed-up vs {ref_label} | identical to C++ | failed | cpp fallbacks |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, mode, seconds, rate, speedup, same, failed, fallbacks in rows:
        print(
            f"| {label} | {mode} | {seconds:.2f} | {rate:.1f} | {speedup:.1f}x | {same}/{len(files)} | {failed} | "
            f"{fallbacks} |"
        )
    tmp.cleanup()


if __name__ == "__main__":
    main()
