"""Run a snippet in a fresh interpreter and report its compute time and peak RSS.

Why a subprocess: peak RSS only ever grows inside one process, so each
contender gets its own interpreter; the child times the body (imports in
``setup`` excluded) and prints one JSON line with that time and its peak RSS
(``VmHWM``, the whole process including imports).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

_WRAPPER = """
import json, resource, time
{setup}
_t0 = time.perf_counter()
{body}
seconds = time.perf_counter() - _t0
def _peak_rss_mb():
    # VmHWM belongs to this process image; ru_maxrss would also count the
    # parent's pages inherited through fork (Linux keeps the high-water mark
    # across exec), which inflates it after the parent generated test data.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("@@RESULT@@" + json.dumps({{"seconds": seconds, "rss_mb": _peak_rss_mb(), "extra": globals().get("extra")}}))
"""


def run(setup: str, body: str, *, cwd: str | None = None) -> dict:
    """Run ``setup`` (untimed imports) then ``body`` (timed) in a child python."""
    code = _WRAPPER.format(setup=textwrap.dedent(setup), body=textwrap.dedent(body))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr[-3000:]}")
    line = next(line for line in proc.stdout.splitlines() if line.startswith("@@RESULT@@"))
    result = json.loads(line.removeprefix("@@RESULT@@"))
    result["wall"] = wall
    return result


def alternate(contenders: dict[str, tuple[str, str]], repeat: int) -> dict[str, dict]:
    """Run contenders in turn ``repeat`` times; keep each one's best time and worst RSS.

    Alternating (A B A B ...) spreads the noise of a shared machine evenly;
    the best time is the least disturbed run.
    """
    best: dict[str, dict] = {}
    for _ in range(repeat):
        for name, (setup, body) in contenders.items():
            result = run(setup, body)
            if name not in best:
                best[name] = result
            else:
                prev = best[name]
                best[name] = {
                    **result,
                    "seconds": min(prev["seconds"], result["seconds"]),
                    "rss_mb": max(prev["rss_mb"], result["rss_mb"]),
                }
    return best


def rounds(contenders: dict[str, tuple[str, str]], count: int) -> dict[str, list[dict]]:
    """Run contenders in turn ``count`` times (A B A B ...); every run's result, per contender.

    For ratios taken per round (median with min and max over the rounds),
    which is fairer on a shared machine than best-of-N: each round's
    contenders ran back to back under about the same load.
    """
    out: dict[str, list[dict]] = {name: [] for name in contenders}
    for _ in range(count):
        for name, (setup, body) in contenders.items():
            out[name].append(run(setup, body))
    return out


def table(rows: list[list[str]]) -> str:
    """A small fixed-width table."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
