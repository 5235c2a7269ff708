"""The render sandbox: Jsonnet evaluated in a child process that holds no secret.

Why a separate process with a fresh environment: ``collection.jsonnet`` and
its libraries arrive in pull requests, and the bot that renders them may hold
deploy credentials (AWS keys, ``ARGO_TOKEN``, a write token).  The import
callback already keeps an evaluation inside the catalog root, but an engine
bug, a crash dump or a memory blow-up must not be able to reach or expose
what the parent holds.  So the child

* starts with an explicit allow-list environment (:data:`ALLOWED_ENV`, no
  tokens, no cloud credentials) and ``python -I`` (no user site, no
  ``PYTHON*`` variables);
* runs under a memory limit (default 1 GB): ``RLIMIT_DATA`` holds writable
  memory to it, ``RLIMIT_AS`` the address space to it plus what the Go
  runtime reserves without using (:data:`GO_RESERVE_MB`); no core dumps;
* is killed when a file overruns its wall-clock limit (default 60 s);
* may send back at most ``max_output_mb`` per answer: a larger answer kills it.

The parent speaks to it over pipes, one JSON line per message: the renderer
configuration first, then lists of catalog-relative paths; the child answers
``"ready"`` and then one list of ``[path, value, error, engine]`` per request.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the child must start light: no configuration records
    from collections.abc import Iterator

    from bot.catalog.jsonnet_engines import JsonnetError, RenderResult
    from bot.config import RenderLimits

ALLOWED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
"""The only variables a render child inherits (everything else, secrets included, is dropped)."""

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from bot.catalog.sandbox import child_main; child_main()"


def child_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a render child: the allow-list only and a neutral ``HOME``."""
    env = os.environ if environ is None else environ
    out = {k: env[k] for k in ALLOWED_ENV if k in env}
    out["HOME"] = "/nonexistent"
    return out


GO_RESERVE_MB = 3072
"""Address space the Go runtime reserves (mapped ``PROT_NONE``, never touched) when ``_gojsonnet``
loads: measured ~1.4-1.7 GB of ``VmSize`` for 0.1 GB of data.  ``RLIMIT_AS`` gets this on top of
the memory limit; the data itself is held to the limit by ``RLIMIT_DATA`` (writable memory)."""


def _limit_resources(memory_bytes: int) -> Callable[[], None]:
    address_space = memory_bytes + GO_RESERVE_MB * 1024 * 1024

    def apply() -> None:  # runs in the child between fork and exec
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


class OutputTooLarge(Exception):
    """The child's answer exceeded ``max_output_mb``."""


class Worker:
    """One sandboxed render child fed chunks of paths (so it can be killed on a timeout)."""

    def __init__(self, config: Mapping[str, Any], limits: RenderLimits) -> None:
        self.limits = limits
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, _PACKAGE_ROOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # an engine crash dumps ~10^6 frames: not into the CI log
            env=child_env(),
            cwd=config["root"],
            preexec_fn=_limit_resources(limits.memory_mb * 1024 * 1024),
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin
        self.fd = self.proc.stdout.fileno()
        self._buffer = bytearray()
        self.task: list[str] | None = None
        self.deadline: float | None = None
        self.warm = False
        self._write({**config, "max_output": limits.max_output_mb * 1024 * 1024})

    def fileno(self) -> int:
        """For ``select``."""
        return self.fd

    def _write(self, message: Any) -> None:
        self._in.write(json.dumps(message).encode() + b"\n")
        self._in.flush()

    def send(self, rels: list[str], timeout: float | None) -> None:
        """Start a chunk.  Its deadline: ``timeout`` plus 1 s per further file (normal files take
        milliseconds; an overrun chunk is redone file by file with the exact limit).  The clock
        starts once the child has finished its imports."""
        if not self.warm:
            self.warm = True
            ready, _, _ = select.select([self.fd], [], [], 120)
            if ready:
                with contextlib.suppress(EOFError, OutputTooLarge):
                    self.receive()  # "ready"; a child that died shows up as EOF later
        with contextlib.suppress(OSError):  # died while starting: the next read sees EOF
            self._write(rels)
        self.task = rels
        self.deadline = time.monotonic() + timeout + max(0, len(rels) - 1) if timeout else None

    def receive(self) -> Any | None:
        """Read what is available; the next message when complete, ``None`` when more is to come.

        Raises ``EOFError`` when the child died and :class:`OutputTooLarge` past the cap.
        """
        while b"\n" not in self._buffer:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                raise EOFError
            self._buffer += chunk
            if len(self._buffer) > self.limits.max_output_mb * 1024 * 1024 + 1024:
                raise OutputTooLarge
            ready, _, _ = select.select([self.fd], [], [], 0)
            if not ready and b"\n" not in self._buffer:
                return None
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return json.loads(line)

    def kill(self) -> None:
        """Stop the child now (timeout, crash, oversized answer)."""
        self.proc.kill()
        self.proc.wait()
        self._close()

    def stop(self) -> None:
        """Ask the child to exit; kill it when it does not."""
        with contextlib.suppress(OSError):
            self._write(None)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def child_main() -> None:
    """The child's loop: configuration, ``"ready"``, then one answer per request; ``null`` stops."""
    from bot.catalog.render import JsonnetError, Renderer

    out = sys.stdout.buffer
    config = json.loads(sys.stdin.buffer.readline())
    max_output = int(config.pop("max_output"))
    renderer = Renderer(
        Path(config["root"]),
        [Path(p) for p in config["lib_dirs"]],
        config["ext_vars"],
        config["engine"],
        config["max_stack"],
        config["max_bytes"],
        max_trace=config["max_trace"],
        max_depth=config["max_depth"],
        batch_size=config["batch_size"],
        sandbox=False,
    )

    def send(message: Any) -> None:
        out.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
        out.flush()

    send("ready")
    for raw in sys.stdin.buffer:
        rels = json.loads(raw)
        if rels is None:
            return
        rows: list[list[Any]] = []
        for res in renderer._render_chunk(rels):
            err = res.error
            if err is not None and not isinstance(err, JsonnetError):
                err = JsonnetError(err.message, file=err.file, line=err.line, hint=err.hint, kind="sandbox")
            value = res.value
            if err is None and len(json.dumps(value, ensure_ascii=False)) > max_output:
                err, value = output_too_large(res.path, max_output), None
            rows.append([res.path, value, err.to_dict() if isinstance(err, JsonnetError) else None, res.engine])
        send(rows)


def output_too_large(rel: str, limit: int) -> Any:
    """The error for a file whose rendered JSON exceeds the output cap."""
    from bot.catalog.jsonnet_engines import JsonnetError

    return JsonnetError(
        f"the rendered output is larger than {limit // (1024 * 1024)} MB",
        file=rel,
        kind="limit",
        hint="a collection renders to a few kB; look for std.repeat or huge std.range output "
        "(or raise render.max_output_mb in catalog-bot.yaml)",
    )


def render_in_workers(
    config: dict[str, Any], limits: RenderLimits, rels: list[str], jobs: int, batch_size: int, timeout: float | None
) -> Iterator[RenderResult]:
    """Chunks over ``jobs`` sandboxed child processes (:mod:`bot.catalog.sandbox`), in completion order.

    A chunk whose child dies (an engine crash, the memory limit) or
    overruns its time (``timeout`` per file) is killed and its files are
    redone one per call, so only the culprit fails -- with a clear error.
    """
    from collections import deque

    from bot.catalog.jsonnet_engines import JsonnetError, RenderResult

    size = min(max(1, batch_size), max(1, -(-len(rels) // (jobs * 4))))
    queue: deque[list[str]] = deque(rels[i : i + size] for i in range(0, len(rels), size))
    workers: list[Worker] = []
    try:
        while queue or any(w.task for w in workers):
            while queue and len(workers) < jobs:
                workers.append(Worker(config, limits))
            for w in workers:
                if w.task is None and queue:
                    w.send(queue.popleft(), timeout)
            busy = [w for w in workers if w.task is not None]
            deadlines = [w.deadline for w in busy if w.deadline is not None]
            wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready, _, _ = select.select(busy, [], [], wait_for)
            for w in busy:
                task = w.task or []
                if w in ready:
                    try:
                        rows = w.receive()
                        if rows is None:
                            continue
                    except EOFError:
                        failure = "crashed"
                    except OutputTooLarge:
                        failure = "output"
                    else:
                        w.task, w.deadline = None, None
                        for rel, value, err, engine in rows:
                            yield RenderResult(rel, value, JsonnetError.from_dict(err) if err else None, engine)
                        continue
                elif w.deadline is not None and time.monotonic() >= w.deadline:
                    failure = "timed out"
                else:
                    continue
                w.kill()
                workers.remove(w)
                if len(task) > 1:  # find the culprit: one file per call
                    queue.extendleft([rel] for rel in reversed(task))
                    continue
                yield RenderResult(task[0], None, worker_failure(task[0], failure, limits, timeout))
    finally:
        for w in workers:
            w.stop()


def worker_failure(rel: str, failure: str, limits: RenderLimits, timeout: float | None) -> JsonnetError:
    """The error for a file whose child timed out, overflowed its output or died."""
    from bot.catalog.jsonnet_engines import JsonnetError

    if failure == "timed out":
        return JsonnetError(
            f"rendering took longer than {timeout or 0:g} s and was stopped",
            file=rel,
            kind="limit",
            hint="look for an expensive loop (std.range over huge ranges, deep recursion); "
            "templates should render in well under a second",
        )
    if failure == "output":
        return output_too_large(rel, limits.max_output_mb * 1024 * 1024)
    return JsonnetError(
        f"the jsonnet engine stopped while rendering this file: it crashed or needed more than "
        f"{limits.memory_mb} MB of memory",
        file=rel,
        kind="limit",
        hint="simplify the file (very deep nesting, recursion or huge values such as std.repeat); "
        "try `catalog-bot render --engine cpp` to see the reference engine's error",
    )
