"""The verbs ``up``, ``down``, ``status`` and ``env`` over all services, and the command line.

Why here and not in the service modules: the order between services
(``stac`` reads PostgreSQL's port, pygeoapi is given S3's URL), the parallel
start and the state bookkeeping are one concern; each service module knows
only how to start, check and stop its own server.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import devsvc
from devsvc.install import REPO, install_one
from devsvc.postgres import postgres_healthy, start_postgres, stop_postgres
from devsvc.process import HOST, DevError, pid_is, say, stop_group
from devsvc.pygeoapi import pygeoapi_healthy, start_pygeoapi
from devsvc.s3 import s3_healthy, start_s3
from devsvc.stac import stac_healthy, start_stac
from devsvc.state import load_state, save_state

DEFAULT_STATE = Path(os.environ.get("CATALOG_BOT_DEV_STATE") or REPO / ".dev-services")
SERVICES = ("s3", "postgres", "stac", "pygeoapi")
# stac needs postgres; asking for stac brings postgres along.
NEEDS = {"s3": ("s3",), "postgres": ("postgres",), "stac": ("postgres", "stac"), "pygeoapi": ("pygeoapi",)}
# Start-order edges for the parallel ``up``: a service starts once these have
# started (stac reads postgres' port; pygeoapi is given S3's URL).
AFTER: dict[str, tuple[str, ...]] = {"stac": ("postgres",), "pygeoapi": ("s3",)}
HEALTH = {"s3": s3_healthy, "postgres": postgres_healthy, "stac": stac_healthy, "pygeoapi": pygeoapi_healthy}


def expand(only: list[str] | None) -> list[str]:
    """Requested services plus what they need, in start order."""
    wanted: set[str] = set()
    for name in only or SERVICES:
        if name not in NEEDS:
            raise DevError(f"unknown service {name!r}; use one of {', '.join(SERVICES)}")
        wanted.update(NEEDS[name])
    return [s for s in SERVICES if s in wanted]


def up(
    state_dir: Path, only: list[str] | None = None, *, fresh: bool = False, do_install: bool = True
) -> dict[str, Any]:
    """Install, start and record the services; keep the healthy ones. Returns the state."""
    state_dir = state_dir.resolve()
    services = expand(only)
    if fresh:
        down(state_dir)
        for sub in SERVICES:
            shutil.rmtree(state_dir / sub, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    state = load_state(state_dir)
    state.setdefault("services", {})
    if "credentials" not in state:
        state["credentials"] = {"access_key": "dev" + secrets.token_hex(8), "secret_key": secrets.token_hex(20)}
    start = time.monotonic()
    _start_all(state_dir, state, services, do_install=do_install)
    save_state(state_dir, state)
    say(
        f"all up (installs and starts in parallel) in {time.monotonic() - start:.1f}s; state {state_dir / 'state.json'}; env {state_dir / 'dev.env'}"
    )
    for key, value in sorted(state["env"].items()):
        if "SECRET" not in key and "KEY_ID" not in key:
            say(f"  {key}={value}")
    say(f'  credentials: `source {state_dir / "dev.env"}` (or eval "$(python scripts/dev_services.py env)")')
    return state


def _start_all(state_dir: Path, state: dict[str, Any], services: list[str], *, do_install: bool) -> None:
    """Install and start every service in its own thread, each after those it needs (``AFTER``).

    Why threads: installs wait on the network and starts on the servers'
    imports, so the services overlap instead of adding up (CI's budget).
    Every started PID is recorded at once, so a failure elsewhere never
    orphans it; all failures are reported together.
    """
    lock = threading.Lock()
    futures: dict[str, Future[None]] = {}

    def chain(name: str) -> None:
        if do_install:
            install_one(name)
        for dep in AFTER.get(name, ()):
            if dep in futures:
                try:
                    futures[dep].result()
                except DevError:
                    raise DevError(f"{name}: not started because {dep} failed") from None
        with lock:
            info = state["services"].get(name)
        if info and HEALTH[name](info):
            say(f"{name} already running (pid {info['pid']})")
            return
        if info:
            say(f"{name} recorded but not healthy: restarting")
            stop_one(name, info)
        started = _start_one(name, state_dir, state, info.get("port") if info else None)
        with lock:
            state["services"][name] = started
            save_state(state_dir, state)  # record each PID at once: a later failure must not orphan it

    with ThreadPoolExecutor(max_workers=len(services) or 1, thread_name_prefix="dev-services") as pool:
        for name in services:  # SERVICES order: what a service waits for was submitted before it
            futures[name] = pool.submit(chain, name)
    errors = []
    for name, future in futures.items():
        exc = future.exception()
        if isinstance(exc, DevError):
            errors.append(str(exc))
        elif exc is not None:
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    if errors:
        raise DevError("\n".join(errors))


def _start_one(name: str, state_dir: Path, state: dict[str, Any], prev_port: int | None) -> dict[str, Any]:
    """Start one service (its ``AFTER`` services are already up and recorded)."""
    creds = state["credentials"]
    current = state["services"]
    if name == "s3":
        return start_s3(state_dir, creds, prev_port)
    if name == "postgres":
        return start_postgres(state_dir, prev_port)
    if name == "stac":
        return start_stac(state_dir, current["postgres"], prev_port)
    if name == "pygeoapi":
        return start_pygeoapi(state_dir, creds, current.get("s3", {}).get("url"), prev_port)
    raise DevError(f"unknown service {name!r}")


def stop_one(name: str, info: dict[str, Any]) -> None:
    """Stop one recorded service, only if the PID is still the process we started."""
    if name == "postgres":
        stop_postgres(info)
    else:
        stop_group(int(info["pid"]), info.get("expect", ""))


def down(state_dir: Path) -> None:
    """Stop exactly the recorded PIDs (reverse start order) and mark them stopped."""
    state_dir = state_dir.resolve()
    state = load_state(state_dir)
    services = state.get("services", {})
    if not services:
        say(f"nothing recorded in {state_dir}")
        return
    for name in reversed(SERVICES):
        info = services.get(name)
        if not info:
            continue
        alive = pid_is(info.get("pid"), info.get("expect", ""))
        stop_one(name, info)
        say(f"{name}: {'stopped' if alive else 'was not running'} (pid {info['pid']})")
    state["services"] = {}
    save_state(state_dir, state)


def status(state_dir: Path) -> int:
    """Print each service's health; exit code 0 only when all recorded ones are healthy."""
    state = load_state(state_dir.resolve())
    services = state.get("services", {})
    if not services:
        say(f"no services recorded in {state_dir} (run `up`)")
        return 1
    bad = 0
    for name in SERVICES:
        info = services.get(name)
        if not info:
            continue
        ok = HEALTH[name](info)
        bad += not ok
        where = info.get("url") or f"{HOST}:{info.get('port')}"
        print(f"{name:9s} {'healthy' if ok else 'DOWN':8s} pid {info['pid']:<8} {where}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry: up | down | status | env."""
    parser = argparse.ArgumentParser(
        description=(devsvc.__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("verb", choices=["up", "down", "status", "env"])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="state directory (default .dev-services)")
    parser.add_argument("--only", help="comma-separated subset of s3,postgres,stac,pygeoapi")
    parser.add_argument("--fresh", action="store_true", help="up: stop and wipe all data first")
    parser.add_argument("--no-install", action="store_true", help="up: never install, fail if something is missing")
    args = parser.parse_args(argv)
    try:
        if args.verb == "up":
            only = [s.strip() for s in args.only.split(",")] if args.only else None
            up(args.state, only, fresh=args.fresh, do_install=not args.no_install)
        elif args.verb == "down":
            down(args.state)
        elif args.verb == "status":
            return status(args.state)
        else:
            for key, value in sorted(load_state(args.state.resolve()).get("env", {}).items()):
                print(f"export {key}={value}")
    except DevError as exc:
        print(f"[dev-services] error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
