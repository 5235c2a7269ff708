"""Start-up cost through the CLI: ``catalog-bot --help`` and ``catalog-bot step`` vs ``python -c "import typer"``.

Why through the CLI: every GitHub job runs one verb and every Argo pod runs
``catalog-bot step``, so what a user pays is a fresh interpreter importing
the bot, not an in-process call.  Each round runs the three commands in
turn (interleaved, so machine load hits all of them alike); the ratios are
taken per round and reported as median with min and max.

``catalog-bot step NAME`` start-up is measured with a step name that does not
exist: the verb imports everything it needs to run a step (settings, catalog,
run context, executor) and then stops with a usage error before any step
work, so the time is start-up alone.

Goals (issue #16): ``--help`` <= 2x ``import typer``; ``step`` <= 1.5x ``--help``.

    python benchmarks/bench_startup.py --rounds 9
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "catalog_templates" / "example"


def _cli() -> list[str]:
    exe = shutil.which("catalog-bot")
    return [exe] if exe else [sys.executable, "-m", "bot"]


def _time(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}x (min {min(values):.2f}x, max {max(values):.2f}x)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (>= 5)")
    args = parser.parse_args(argv)
    cli = _cli()
    commands = {
        "import typer": [sys.executable, "-c", "import typer"],
        "catalog-bot --help": [*cli, "--help"],
        "catalog-bot step (start-up)": [*cli, "step", "no-such-step", "--dataset", "x", "--catalog", str(EXAMPLE)],
    }
    for cmd in commands.values():  # warm the file cache once
        _time(cmd, EXAMPLE)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(max(args.rounds, 5)):
        for name, cmd in commands.items():
            times[name].append(_time(cmd, EXAMPLE))
    typer_t, help_t, step_t = (times[n] for n in commands)
    for name, values in times.items():
        print(
            f"{name:30s} median {statistics.median(values) * 1000:6.0f} ms  (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"
        )
    help_ratio = [h / t for h, t in zip(help_t, typer_t, strict=True)]
    step_ratio = [s / h for s, h in zip(step_t, help_t, strict=True)]
    print(f"--help / import typer: {_summary(help_ratio)}  goal <= 2x")
    print(f"step / --help:         {_summary(step_ratio)}  goal <= 1.5x")
    ok = statistics.median(help_ratio) <= 2.0 and statistics.median(step_ratio) <= 1.5
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
