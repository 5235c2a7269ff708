"""Process, port, HTTP and file helpers shared by every dev service (stdlib only).

Why one module: each service module starts a server the same way (a free
loopback port, its own session, a readiness poll, a log to show when it
fails) and stops it the same way (only if the PID still runs *our*
command line), so these rules live once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"


class DevError(RuntimeError):
    """A service could not be installed or started; the message says which and why."""


def say(message: str) -> None:
    """Progress on stdout, flushed so CI logs show it as it happens."""
    print(f"[dev-services] {message}", flush=True)


def run(cmd: list[str], *, timeout: float = 120, env: dict[str, str] | None = None, check: bool = True) -> str:
    """Run a command, returning stdout; a failure raises DevError with its output tail."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise DevError(f"command timed out after {timeout:.0f}s: {' '.join(cmd[:4])} ...") from None
    except FileNotFoundError:
        raise DevError(f"command not found: {cmd[0]}") from None
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise DevError(f"command failed ({proc.returncode}): {' '.join(cmd[:6])}\n  " + "\n  ".join(tail))
    return proc.stdout


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port and we may bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


_TAKEN: set[int] = set()
_PORT_LOCK = threading.Lock()  # services start in parallel threads: never hand one port out twice


def free_port(preferred: int | None = None, *, below: int = 55000) -> int:
    """A free loopback port: ``preferred`` when free, else one the kernel picks (kept < ``below``)."""
    with _PORT_LOCK:
        return _free_port(preferred, below)


def _free_port(preferred: int | None, below: int) -> int:
    if preferred and port_free(preferred):  # a restart may reuse its own earlier port
        _TAKEN.add(preferred)
        return preferred
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = sock.getsockname()[1]
        if port < below and port not in _TAKEN:
            _TAKEN.add(port)
            return port
    raise DevError("no free loopback port found")


def http_status(url: str, timeout: float = 5.0) -> int | None:
    """HTTP status of a GET (None when nothing answers within ``timeout``).

    Why 5 s: on a loaded machine (load average 15-20 on 2 cores) a healthy
    pygeoapi took 2.4 s to answer its conformance page; with 2 s it was
    reported DOWN, and the test fixtures then started a private set of
    services instead of attaching to the running one.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def cmdline(pid: int) -> str:
    """The command line of a live process ('' if gone or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    if ") Z" in stat:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def pid_is(pid: int | None, expect: str) -> bool:
    """True when ``pid`` is alive and its command line contains ``expect`` (PID reuse guard).

    Why the recorded ``expect`` names the instance (its data folder, config
    or port), not just the program: PIDs wrap quickly on a busy machine
    (pid_max 32768), and a stale PID reused by *another* SeaweedFS must not
    be taken for ours and stopped.
    """
    return bool(pid) and expect in cmdline(int(pid))  # type: ignore[arg-type]


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
) -> float:
    """Poll ``check`` every 0.2 s until true; fail fast if ``proc`` exits. Returns seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        if proc is not None and proc.poll() is not None:
            raise DevError(f"{what}: process exited with {proc.returncode}{log_tail(log)}")
        time.sleep(0.2)
    raise DevError(f"{what}: not ready after {timeout:.0f}s{log_tail(log)}")


def log_tail(log: Path | None, lines: int = 20) -> str:
    """The last lines of a log file, indented, for error messages."""
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").strip().splitlines()[-lines:]
    return f"\n  last lines of {log}:\n    " + "\n    ".join(tail)


def spawn(cmd: list[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """Start a server in its own session (its PID is its process-group id) with output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("ab")
    try:
        return subprocess.Popen(
            cmd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise DevError(f"command not found: {cmd[0]} (install it, or run `up` without --no-install)") from None
    finally:
        handle.close()


def stop_group(pid: int, expect: str, *, timeout: float = 15.0) -> bool:
    """SIGTERM the process group of ``pid`` (only if it is still ours), SIGKILL after ``timeout``."""
    if not pid_is(pid, expect):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not cmdline(pid):
            _reap(pid)
            return True
        _reap(pid)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    """Collect our own child if it exited (avoids zombies when called in-process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Write via a temp file + rename so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
