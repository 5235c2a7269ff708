"""Start-up cost through the CLI: ``catalog-bot --help`` and ``catalog-bot step`` vs ``python -c "import typer"``.

Why through the CLI: every GitHub job runs one verb and every Argo pod runs
``catalog-bot step``, so what a user pays is a fresh interpreter importing
the bot, not an in-process call.  Each round runs the three commands in
turn (interleaved, so machine load hits all of them alike); the ratios are
taken per round and reported as median with min and max.

``catalog-bot step`` start-up is measured with a real step that has nothing to
do: ``harvest-metadata`` of an example dataset without a metadata source.
The verb parses its options, loads settings, the catalog, the dataset's
pipeline.yaml and the run context, then reports the step skipped -- what
every Argo pod pays before its step's own work (the step's module is
imported lazily, when it runs).

Besides wall time, each command's CPU time (user + system of the child) is
reported: on a machine shared with other work, wall ratios drift with the
load while CPU ratios stay close to what a quiet machine shows.

The bot's bytecode is compiled first, as ``pip install`` does for the
wheel in the Argo image (``benchmarks/_installed.py``: with
``PYTHONDONTWRITEBYTECODE`` set, an editable checkout would otherwise
recompile every ``bot`` module in every run, a cost no installed bot pays).

Goals (issue #16): ``--help`` <= 2x ``import typer``; ``step`` <= 1.5x ``--help``.

    python benchmarks/bench_startup.py --rounds 9

``--before TREE`` also times ``--help`` and the step of another source tree
(``python -m bot`` with ``PYTHONPATH=TREE``, byte-compiled the same way) in
the same rounds, for a before/after under the same load:

    git archive <rev> | tar -x -C /tmp/before
    python benchmarks/bench_startup.py --rounds 9 --before /tmp/before
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _installed import compile_bot

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "catalog_templates" / "example"


def _cli() -> list[str]:
    exe = shutil.which("catalog-bot")
    return [exe] if exe else [sys.executable, "-m", "bot"]


def _time(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}x (min {min(values):.2f}x, max {max(values):.2f}x)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (>= 5)")
    parser.add_argument("--before", type=Path, help="another source tree to time in the same rounds (before/after)")
    args = parser.parse_args(argv)
    cli = _cli()
    compile_bot()  # what pip does on install (see above)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        step_args = ["step", "harvest-metadata", "-d", "reef-temperature", "-C", str(EXAMPLE), "--output", tmp]
        commands: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "import typer": ([sys.executable, "-c", "import typer"], None),
            "catalog-bot --help": ([*cli, "--help"], None),
            "catalog-bot step (start-up)": ([*cli, *step_args], None),
        }
        if args.before is not None:
            compileall.compile_dir(str(args.before.resolve() / "bot"), quiet=1)
            env = {**os.environ, "PYTHONPATH": str(args.before.resolve())}
            commands["before: --help"] = ([sys.executable, "-m", "bot", "--help"], env)
            commands["before: step (start-up)"] = ([sys.executable, "-m", "bot", *step_args], env)
        for cmd, env in commands.values():  # warm the file cache once
            _time(cmd, EXAMPLE, env)
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(max(args.rounds, 5)):
            for name, (cmd, env) in commands.items():
                w, c = _time(cmd, EXAMPLE, env)
                wall[name].append(w)
                cpu[name].append(c)
    ok = True
    for label, times in (("wall", wall), ("CPU", cpu)):
        typer_t, help_t, step_t = (times[n] for n in list(commands)[:3])
        for name, values in times.items():
            med, lo, hi = (f(values) * 1000 for f in (statistics.median, min, max))
            print(f"{label:4s} {name:30s} median {med:6.0f} ms  (min {lo:.0f}, max {hi:.0f})")
        help_ratio = [h / t for h, t in zip(help_t, typer_t, strict=True)]
        step_ratio = [s / h for s, h in zip(step_t, help_t, strict=True)]
        print(f"{label:4s} --help / import typer: {_summary(help_ratio)}  goal <= 2x")
        print(f"{label:4s} step / --help:         {_summary(step_ratio)}  goal <= 1.5x")
        if args.before is not None:
            before_help, before_step = times["before: --help"], times["before: step (start-up)"]
            before_ratio = [s / h for s, h in zip(before_step, before_help, strict=True)]
            print(f"{label:4s} before: step / --help: {_summary(before_ratio)}")
            change = [a / b for a, b in zip(step_t, before_step, strict=True)]
            print(f"{label:4s} step now / before:     {_summary(change)}")
        ok = ok and statistics.median(help_ratio) <= 2.0 and statistics.median(step_ratio) <= 1.5
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
