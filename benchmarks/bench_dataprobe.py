"""What the PR check's data probe (issue #15) adds to `catalog-bot check`, through the CLI.

Two copies of the example catalog, identical but for where two datasets' sources are:

- **probe**: ``reef-temperature`` reads a big GeoParquet and ``sea-surface-temperature`` a big Zarr
  store inside the dataset folders (over the probe's byte budget, so the probe reads only the
  Parquet footer and the Zarr metadata + coordinate arrays);
- **baseline**: the same two sources are remote URLs, which the probe never reads (notes only).

On a branch both change the two ``pipeline.yaml`` files (a new schedule), so the check renders,
validates and diffs the same documents on both sides and the only difference is the data read.
Each run is a fresh ``catalog-bot check --base main --format json`` process; runs alternate
(probe, baseline, probe, ...) and the result is the median of the per-pair differences, with
each process's peak RSS (``wait4``).  Target: <= 1 s and <= 100 MB added.

    python benchmarks/bench_dataprobe.py            # ~150 MB Parquet, ~250 MB Zarr
    python benchmarks/bench_dataprobe.py --full     # >= 1 GB Parquet, ~1 GB Zarr
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import table
from bench_extents import make_geoparquet, make_zarr

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "catalog_templates" / "example"
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@e", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@e"}  # fmt: skip
REEF, GRID = "reef-temperature", "sea-surface-temperature"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=GIT_ENV)


def _pipeline(root: Path, dataset: str, path: str, fmt: str, coords: str, schedule: str | None) -> None:
    text = f"source:\n  path: {path}\n  format: {fmt}\noutput: {'parquet' if fmt == 'parquet' else 'zarr'}\n"
    text += f"coordinates: {coords}\naccess: public\n"
    if schedule:
        text += f'schedule: "{schedule}"\n'
    (root / "datasets" / dataset / "pipeline.yaml").write_text(text, encoding="utf-8")


def make_repo(root: Path, parquet: Path, zarr: Path, *, local: bool) -> Path:
    """The example catalog on ``main``; the working tree changes both pipelines (the PR)."""
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(EXAMPLE, root)
    sources = {
        REEF: ("data/big.parquet" if local else "https://data.example.org/big.parquet", "parquet", "{x: lon, y: lat, t: time}"),
        GRID: ("data/big.zarr" if local else "https://data.example.org/big.zarr", "zarr", "{x: lon, y: lat, t: time}"),
    }  # fmt: skip
    (root / ".gitignore").write_text("datasets/*/data/big.*\n", encoding="utf-8")
    for ds, (path, fmt, coords) in sources.items():
        _pipeline(root, ds, path, fmt, coords, None)
    if local:  # hard links: the probe refuses symlinks that leave the catalog folder
        os.link(parquet, root / "datasets" / REEF / "data" / "big.parquet")
        shutil.copytree(zarr, root / "datasets" / GRID / "data" / "big.zarr", copy_function=os.link)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "catalog")
    for ds, (path, fmt, coords) in sources.items():
        _pipeline(root, ds, path, fmt, coords, "0 4 * * *")
    return root


_CHILD = """
import atexit, runpy, sys
def _hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("@@RSS@@" + line.split()[1] + "\\n")
atexit.register(_hwm)
sys.argv = ["catalog-bot", *sys.argv[1:]]
runpy.run_module("bot", run_name="__main__")
"""


def run_check(root: Path) -> tuple[float, float, dict]:
    """One ``catalog-bot check`` process: wall seconds, peak RSS (VmHWM) in MB, the JSON report."""
    env = {**os.environ, "CATALOG_BOT_SCHEMAS": os.environ.get("CATALOG_BOT_SCHEMAS", str(REPO.parent / "shared" / "contracts" / "schemas"))}  # fmt: skip
    args = [sys.executable, "-c", _CHILD, "check", "--catalog", str(root), "--base", "main", "--format", "json"]
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"check failed ({proc.returncode}):\n{proc.stderr.decode()[-3000:]}")
    kb = next(int(line[7:]) for line in proc.stderr.decode().splitlines() if line.startswith("@@RSS@@"))
    return seconds, kb / 1024, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help=">= 1 GB Parquet and ~1 GB Zarr")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/catalog-bot-bench"), help="inputs are cached here")
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    pq_size = 1_200_000_000 if args.full else 150_000_000
    zarr_size = 1_000_000_000 if args.full else 250_000_000
    parquet = make_geoparquet(args.workdir / f"extents-{pq_size // 1_000_000}.parquet", pq_size)
    zarr = make_zarr(args.workdir / f"extents-{zarr_size // 1_000_000}.zarr", zarr_size)
    probe_repo = make_repo(args.workdir / "probe-catalog", parquet, zarr, local=True)
    base_repo = make_repo(args.workdir / "baseline-catalog", parquet, zarr, local=False)

    _, _, report = run_check(probe_repo)  # warm the page cache and check what the probe saw
    data = report["data"]
    assert data[REEF]["head"]["rows"] and data[GRID]["head"]["dimensions"], data
    run_check(base_repo)
    times: dict[str, list[float]] = {"probe": [], "baseline": []}
    rss: dict[str, list[float]] = {"probe": [], "baseline": []}
    for _ in range(args.pairs):
        for name, root in (("probe", probe_repo), ("baseline", base_repo)):
            seconds, peak, _ = run_check(root)
            times[name].append(seconds)
            rss[name].append(peak)
    added = statistics.median(p - b for p, b in zip(times["probe"], times["baseline"], strict=True))
    added_rss = max(rss["probe"]) - max(rss["baseline"])
    pq_mb = parquet.stat().st_size / 1e6
    zarr_mb = sum(p.stat().st_size for p in zarr.rglob("*") if p.is_file()) / 1e6
    rows = [
        ["contender", "median s", "peak RSS MB", "added", "target"],
        [
            f"check + probe ({pq_mb:,.0f} MB GeoParquet, {zarr_mb:,.0f} MB Zarr)",
            f"{statistics.median(times['probe']):.2f}",
            f"{max(rss['probe']):.0f}",
            f"{added:+.2f} s, {added_rss:+.0f} MB",
            "<= 1 s, <= 100 MB",
        ],
        ["check, remote sources (not read)", f"{statistics.median(times['baseline']):.2f}", f"{max(rss['baseline']):.0f}", "", ""],
    ]  # fmt: skip
    print(table(rows))
    print(f"reef-temperature rows seen by the probe: {data[REEF]['head']['rows']:,}; notes: {data[REEF]['notes']}")


if __name__ == "__main__":
    main()
