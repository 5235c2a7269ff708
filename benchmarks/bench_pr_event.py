"""A pull_request event costs what the check costs, and a constant number of GitHub API calls.

Run: python benchmarks/bench_pr_event.py [--sizes 5,1000] [--full] [--repeat 3]

For each catalog size builds the synthetic catalog (benchmarks/synthetic_catalog.py,
via bench_check.prepare: 5 datasets retitled on branch ``feature``), serves it from
the local GitHub simulation (tests/github_server.py, real git underneath), opens a
PR and handles the ``pull_request`` event the way the workflow does (direct mode:
sticky comment + check run).  In the same run it times the plain check
(``run_check``, what ``catalog-bot check`` does) on the same clone.

Reported per size: API calls per event (3 when the comment body is unchanged and
the edit is skipped, else 4) and comment writes (target: constant,
independent of catalog size, at most one comment write), wall time of the event
with and without the time spent waiting for the (local) API, and the event's
overhead over the plain check.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import msgspec  # noqa: E402
from bench_check import prepare  # noqa: E402

from bot.adapters.git import GitRepo  # noqa: E402
from bot.adapters.github import GitHub  # noqa: E402
from bot.catalog.check import run_check  # noqa: E402
from bot.config import Secret, Settings  # noqa: E402
from bot.events.context import BotContext  # noqa: E402
from bot.events.handlers import handle  # noqa: E402
from bot.events.models import parse_event  # noqa: E402
from tests.github_server import TOKEN, FakeGitHub, adapt, load_webhook  # noqa: E402

REPO = "bench/catalog"


class TimedGitHub(GitHub):
    """The real adapter, also summing the wall time spent inside HTTP calls."""

    network: float = 0.0

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return super().request(*args, **kwargs)
        finally:
            self.network += time.perf_counter() - t0


def pr_payload(server: FakeGitHub, number: int, action: str) -> dict:
    repo = server.repos[REPO]
    p = adapt(load_webhook(f"pull_request/{action}.payload.json"), repo, server)
    p["number"] = p["pull_request"]["number"] = number
    p["pull_request"]["head"].update(sha=server.rev(REPO, "feature"), ref="feature")
    p["pull_request"]["base"].update(sha=server.rev(REPO, "main"), ref="main")
    for side in ("head", "base"):
        p["pull_request"][side]["repo"]["full_name"] = REPO
    return p


def bench_size(tmp: Path, n: int, repeat: int) -> dict:
    root = tmp / f"cat{n}"
    prepare(root, n)
    server = FakeGitHub(tmp / f"gh{n}").start()
    try:
        server.add_repo(REPO, root)
        clone = tmp / f"clone{n}"
        subprocess.run(["git", "clone", "-q", str(server.repos[REPO].git_dir), str(clone)], check=True)
        settings = msgspec.structs.replace(
            Settings.from_env(), github_token=Secret(TOKEN), github_api_url=server.base_url, github_repository=REPO
        )
        number = server.open_pr(REPO, "feature")["number"]
        base, head = server.rev(REPO, "main"), server.rev(REPO, "feature")
        run_check(GitRepo(clone), base, head, settings)  # warm-up: imports, schema registry

        checks, events, local, calls, writes = [], [], [], [], []
        for i in range(repeat):
            t0 = time.perf_counter()
            run_check(GitRepo(clone), base, head, settings)
            checks.append(time.perf_counter() - t0)

            base_gh = GitHub.connect(settings, throttle=False)
            gh = TimedGitHub(client=base_gh.client, repo=REPO)
            ctx = BotContext(settings=settings, repo_dir=clone, gh=gh)
            before = len(server.requests)
            t0 = time.perf_counter()
            handle(parse_event("pull_request", pr_payload(server, number, "opened" if i == 0 else "synchronize")), ctx)
            total = time.perf_counter() - t0
            sent = server.requests[before:]
            events.append(total)
            local.append(total - gh.network)
            calls.append(len(sent))
            writes.append(sum(1 for r in sent if r.method in ("POST", "PATCH") and "/comments" in r.path))
        bot_comments = [c for c in server.issue_comments(REPO, number) if c["user"].endswith("[bot]")]
        assert len(bot_comments) == 1, "the sticky comment was duplicated"
        assert not server.contract_errors, server.contract_errors
        return {
            "n": n,
            "check": statistics.median(checks),
            "event": statistics.median(events),
            "local": statistics.median(local),
            "calls": sorted(set(calls)),
            "writes": max(writes),
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="5,1000")
    parser.add_argument("--full", action="store_true", help="sizes 5,1000,5000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [5, 1000, 5000] if args.full else [int(s) for s in args.sizes.split(",")]
    if not os.environ.get("CATALOG_BOT_SCHEMAS"):
        mirror = HERE.parents[1] / "shared" / "contracts" / "schemas"
        if mirror.is_dir():
            os.environ["CATALOG_BOT_SCHEMAS"] = str(mirror)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench_size(Path(tmp), n, args.repeat) for n in sizes]
    print(f"pull_request event touching 5 datasets vs plain check, median of {args.repeat} runs")
    print(
        f"{'datasets':>9}{'check (s)':>11}{'event (s)':>11}{'event excl. API (s)':>21}"
        f"{'overhead (s)':>14}{'API calls/event':>17}{'comment writes':>16}"
    )
    for r in rows:
        calls = "/".join(str(c) for c in r["calls"])
        print(
            f"{r['n']:>9}{r['check']:>11.3f}{r['event']:>11.3f}{r['local']:>21.3f}"
            f"{r['local'] - r['check']:>14.3f}{calls:>17}{r['writes']:>16}"
        )
    # an event whose comment body did not change skips the edit (one call fewer): compare the maximum
    constant = len({max(r["calls"]) for r in rows}) == 1
    print(
        f"API calls independent of catalog size: {'yes' if constant else 'NO'}; at most one comment write: "
        f"{'yes' if all(r['writes'] <= 1 for r in rows) else 'NO'}"
    )


if __name__ == "__main__":
    main()
