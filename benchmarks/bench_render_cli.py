"""Render through the CLI vs Python + the C++ jsonnet binding, start-up included (issue #16 item 2).

Why through the CLI: a curator or a CI job runs ``catalog-bot render`` in a
fresh interpreter, so start-up is part of what they pay.  The baseline is the
naive script a user would write, also a fresh interpreter::

    python -c "import _jsonnet; _jsonnet.evaluate_file(FILE, jpathdir=['lib'], ext_vars=...)"

(one call per file, in one process, for the many-files case).

Cases, on a catalog from :mod:`synthetic_catalog` (real-world-shaped
collections: shared libs, std functions, text blocks, unicode):

* one file: ``catalog-bot render FILE -J lib -V ...`` vs the script on that file;
* many files (``-n``, default 120): ``catalog-bot render FILE... --jobs 2``
  vs the script looping over the files; plus the same command with
  ``CATALOG_BOT_RENDER_SANDBOX=1`` (what a CI job holding a token does:
  every file rendered in sandboxed child processes).

Every ratio is the median of ``--pairs`` interleaved pairs (baseline, CLI,
baseline, CLI ...), with min and max; each pair also records CPU time (user
+ system of the child and its children) because wall time on a loaded
shared machine is noisy.  Outputs are compared as canonical JSON, file by
file: the CLI must print exactly what the C++ binding renders.  After each
CLI run the benchmark checks that the CLI left no process behind.

Goals: one file <= 1.5x, many files >= 15x faster, identical output.

    python benchmarks/bench_render_cli.py --pairs 5            # 120 collections
    python benchmarks/bench_render_cli.py --pairs 5 -n 300
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_catalog import make_catalog

EXT_VARS = {"environment": "local", "data_base_url": "", "stac_api_url": "", "synthetic_run": "yes"}

_BASELINE = """
import json, sys, _jsonnet
ext = json.loads(sys.argv[1])
for f in sys.argv[2:]:
    print(json.dumps({"file": f, "result": json.loads(_jsonnet.evaluate_file(f, jpathdir=["lib"], ext_vars=ext))}))
"""


def _cli() -> list[str]:
    exe = shutil.which("catalog-bot")
    return [exe] if exe else [sys.executable, "-m", "bot"]


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without secret-looking variables (a curator's shell), plus ``extra``."""
    drop = ("TOKEN", "SECRET", "PASSWORD", "KEY")
    env = {k: v for k, v in os.environ.items() if not any(d in k.upper() for d in drop)}
    env.pop("CATALOG_BOT_RENDER_SANDBOX", None)
    env.update(extra)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (process tree) and stdout of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def _canonical(stdout: str) -> dict[str, str]:
    """file -> canonical JSON of its result (JSON lines from either side)."""
    out = {}
    for line in stdout.splitlines():
        row = json.loads(line)
        out[row["file"]] = json.dumps(row.get("result"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return out


def _leftovers(marker: str) -> list[str]:
    """Processes still running whose command line contains ``marker`` (the catalog path)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if marker in cmd or cwd.startswith(marker):
            found.append(f"{pid}: {cmd[:120]}")
    return found


def _summary(values: list[float], unit: str = "x") -> str:
    return f"median {statistics.median(values):.2f}{unit} (min {min(values):.2f}{unit}, max {max(values):.2f}{unit})"


def case(
    name: str, root: Path, files: list[str], pairs: int, cli_args: list[str], env: dict[str, str]
) -> dict[str, Any]:
    """Interleaved pairs of baseline and CLI on ``files``; ratios per pair; output parity checked."""
    base_cmd = [sys.executable, "-c", _BASELINE, json.dumps(EXT_VARS), *files]
    vars_ = [a for k, v in EXT_VARS.items() for a in ("-V", f"{k}={v}")]
    cli_cmd = [*_cli(), "render", *files, "-J", "lib", *vars_, *cli_args]
    base_env = _clean_env()
    walls: dict[str, list[float]] = {"base": [], "cli": []}
    cpus: dict[str, list[float]] = {"base": [], "cli": []}
    identical = 0
    leftovers: list[str] = []
    for _ in range(pairs):
        bw, bc, bout = _run(base_cmd, root, base_env)
        cw, cc, cout = _run(cli_cmd, root, env)
        leftovers += _leftovers(str(root))
        walls["base"].append(bw)
        walls["cli"].append(cw)
        cpus["base"].append(bc)
        cpus["cli"].append(cc)
        ref, ours = _canonical(bout), _canonical(cout)
        identical = sum(1 for f in files if f in ours and ours[f] == ref.get(f))
    ratio = [c / b for c, b in zip(walls["cli"], walls["base"], strict=True)]
    cpu_ratio = [c / b for c, b in zip(cpus["cli"], cpus["base"], strict=True)]
    return {
        "name": name,
        "files": len(files),
        "base": statistics.median(walls["base"]),
        "cli": statistics.median(walls["cli"]),
        "ratio": ratio,
        "cpu_ratio": cpu_ratio,
        "identical": identical,
        "leftovers": leftovers,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--datasets", type=int, default=120, help="collections in the many-files case")
    parser.add_argument("--pairs", type=int, default=5, help="interleaved pairs per case (>= 5)")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs of the many-files CLI run")
    parser.add_argument("--skip-sandbox", action="store_true", help="skip the CATALOG_BOT_RENDER_SANDBOX=1 row")
    args = parser.parse_args(argv)
    pairs = max(5, args.pairs)
    tmp = Path(tempfile.mkdtemp(prefix="bench-render-cli-"))
    try:
        root = make_catalog(tmp / "catalog", args.datasets)
        files = sorted(str(p.relative_to(root)) for p in root.glob("datasets/*/collection.jsonnet"))
        print(f"{len(files)} collections, cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}", flush=True)
        results = [case("one file", root, files[:1], pairs, [], _clean_env())]
        results.append(case(f"{len(files)} files", root, files, pairs, ["--jobs", str(args.jobs)], _clean_env()))
        if not args.skip_sandbox:
            env = _clean_env(CATALOG_BOT_RENDER_SANDBOX="1")
            results.append(case(f"{len(files)} files, sandbox", root, files, pairs, ["--jobs", str(args.jobs)], env))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load after: {os.getloadavg()[0]:.1f}; {pairs} interleaved pairs per case")
    print(
        "| case | C++ binding (python -c) | catalog-bot render | CLI / C++ wall | CLI / C++ CPU | identical | leftovers |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    ok = True
    for r in results:
        speed = [1 / x for x in r["ratio"]]
        shown = _summary(r["ratio"]) if r["files"] == 1 else f"{_summary(speed)} faster"
        cpu = _summary(r["cpu_ratio"]) if r["files"] == 1 else f"{_summary([1 / x for x in r['cpu_ratio']])} less"
        print(
            f"| {r['name']} | {r['base']:.2f} s | {r['cli']:.2f} s | {shown} | {cpu} | "
            f"{r['identical']}/{r['files']} | {len(r['leftovers'])} |"
        )
        ok &= r["identical"] == r["files"] and not r["leftovers"]
    one, many = results[0], results[1]
    ok &= statistics.median(one["ratio"]) <= 1.5 and statistics.median([1 / x for x in many["ratio"]]) >= 15
    print("goals (one file <= 1.5x, many >= 15x, identical, no leftovers):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
