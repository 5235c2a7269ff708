"""HTTP sources against a real nginx on loopback: conditional requests, resume, limits, errors, guard."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.adapters.download import Limits, part_paths
from bot.adapters.http_probe import AddressGuard
from bot.adapters.http_source import HttpSource
from bot.errors import DataError, ServiceError
from bot.sources.addresses import AllowList
from tests.conftest import EXAMPLE
from tests.source_servers import Nginx, free_port

NC = EXAMPLE / "datasets/sea-surface-temperature/data/sea-surface-temperature.nc"
CSV = EXAMPLE / "datasets/reef-temperature/data/reef-temperature.csv"
LOOPBACK = AllowList.parse(["127.0.0.1", "localhost", "::1"])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source(**limits: float) -> HttpSource:
    values = {"max_bytes": 50 * 1024 * 1024, "timeout": 5.0, "deadline": 60.0, "attempts": 3, "base_delay": 0.05}
    values.update(limits)
    return HttpSource(AddressGuard(LOOPBACK), Limits(**values))  # type: ignore[arg-type]


@pytest.fixture
def served(nginx: Nginx, tmp_path: Path) -> tuple[Nginx, str]:
    """A fresh folder below the nginx root holding the example NetCDF and CSV."""
    folder = f"t{os.urandom(5).hex()}"
    (nginx.root / folder).mkdir()
    shutil.copy(NC, nginx.root / folder / "sst.nc")
    shutil.copy(CSV, nginx.root / folder / "reef.csv")
    return nginx, folder


def test_download_then_unchanged_remote_is_a_304_then_change_is_noticed(served, tmp_path: Path) -> None:
    server, folder = served
    uri = server.url(f"{folder}/sst.nc")
    http = source()
    dest = tmp_path / "sst.nc"
    first = http.fetch(uri, dest, "netcdf")
    assert first.status == "downloaded" and sha(dest) == sha(NC)
    assert first.bytes_transferred == NC.stat().st_size
    assert first.validators.etag and first.validators.last_modified and first.validators.size == NC.stat().st_size
    assert not any(p.exists() for p in part_paths(dest))
    assert http.probe(uri) == first.validators  # HEAD gives the same validators, no body

    again = http.fetch(uri, dest, "netcdf", first)
    assert again.status == "not-modified" and again.bytes_transferred == 0
    log = server.body_bytes(f"{folder}/sst.nc")
    assert log[-1] == ("GET", 304, 0)  # proved by the server's own log: no data sent

    remote = server.root / folder / "sst.nc"
    remote.write_bytes(NC.read_bytes() + b"\0" * 10)  # a new version (size and mtime change)
    os.utime(remote, (time.time() + 5, time.time() + 5))
    changed = http.fetch(uri, dest, "netcdf", again)
    assert changed.status == "downloaded" and changed.validators != first.validators
    assert dest.stat().st_size == NC.stat().st_size + 10


def test_partial_download_is_resumed_with_a_range_request(served, tmp_path: Path) -> None:
    server, folder = served
    uri = server.url(f"{folder}/sst.nc", location="slow")  # 256 KiB/s: the deadline hits mid-file
    dest = tmp_path / "sst.nc"
    with pytest.raises(ServiceError, match="deadline_s"):
        source(deadline=0.4).fetch(uri, dest, "netcdf")
    part, _ = part_paths(dest)
    kept = part.stat().st_size
    assert 0 < kept < NC.stat().st_size and not dest.exists()  # nothing that looks complete
    done = source().fetch(uri, dest, "netcdf")
    assert sha(dest) == sha(NC)
    assert done.bytes_transferred == NC.stat().st_size - kept
    assert server.body_bytes(f"{folder}/sst.nc")[-1] == ("GET", 206, NC.stat().st_size - kept)


def test_server_killed_mid_download_is_retried_and_resumed_without_corruption(served, tmp_path: Path) -> None:
    server, folder = served
    uri = server.url(f"{folder}/sst.nc", location="slow")
    dest = tmp_path / "sst.nc"
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["record"] = source(attempts=8, base_delay=0.3, timeout=3).fetch(uri, dest, "netcdf")
        except Exception as exc:  # reported below
            result["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    part = dest.with_name(dest.name + ".part")
    deadline = time.monotonic() + 20
    while not (part.is_file() and part.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.02)  # poll: the kill must land after some bytes arrived (no fixed sleep)
    assert part.is_file() and part.stat().st_size < NC.stat().st_size, "the download did not start in time"
    server.kill()  # connections drop mid-transfer
    time.sleep(0.3)
    server.start()  # same port, same files
    worker.join(60)
    assert "error" not in result, result.get("error")
    assert sha(dest) == sha(NC)
    ranges = [entry for entry in server.body_bytes(f"{folder}/sst.nc") if entry[1] == 206]
    assert ranges, "the retry asked for the rest of the file only"


def test_file_that_changes_during_resume_restarts_from_zero(served, tmp_path: Path) -> None:
    server, folder = served
    uri = server.url(f"{folder}/sst.nc", location="slow")
    dest = tmp_path / "sst.nc"
    with pytest.raises(ServiceError):
        source(deadline=0.3).fetch(uri, dest, "netcdf")
    remote = server.root / folder / "sst.nc"
    remote.write_bytes(NC.read_bytes()[:-1000])  # replaced between the attempts
    os.utime(remote, (time.time() + 7, time.time() + 7))
    done = source().fetch(uri, dest, "netcdf")
    assert dest.read_bytes() == remote.read_bytes()  # If-Range failed -> full body, no mixed versions
    assert done.bytes_transferred == remote.stat().st_size


@pytest.mark.parametrize(
    ("path", "location", "fmt", "message", "hint"),
    [
        ("missing.nc", "files", "netcdf", "HTTP 404 not found", "check the URL"),
        ("secret.nc", "private", "netcdf", "HTTP 403 access denied", "publicly readable"),
        ("sst.nc", "login", "netcdf", "HTML page where a NetCDF file was expected", "no login or error page"),
        ("reef.csv", "login", "csv", "HTML page where a csv file was expected", "no login or error page"),
    ],
)
def test_bad_remote_answers_are_clear_errors_and_leave_nothing(
    served, tmp_path: Path, path: str, location: str, fmt: str, message: str, hint: str
) -> None:
    server, folder = served
    uri = server.url(f"{folder}/{path}", location=location)
    dest = tmp_path / "out.bin"
    with pytest.raises(DataError) as err:
        source().fetch(uri, dest, fmt)
    assert uri in str(err.value) and message in str(err.value) and hint in (err.value.hint or "")
    assert list(tmp_path.iterdir()) == []


def test_file_over_the_cap_is_refused_from_its_content_length(served, tmp_path: Path) -> None:
    server, folder = served
    uri = server.url(f"{folder}/sst.nc")
    with pytest.raises(DataError) as err:
        source(max_bytes=100_000).fetch(uri, tmp_path / "x.nc", "netcdf")
    assert "over the limit of 100000 bytes" in str(err.value) and "max_download_mb" in (err.value.hint or "")
    assert list(tmp_path.iterdir()) == []


def test_unreachable_host_is_retried_then_named(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}/files/a.nc"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ServiceError) as err:
        source(attempts=3).fetch(uri, tmp_path / "a.nc", "netcdf")
    assert uri in str(err.value) and "ConnectError" in str(err.value)
    assert "reachable" in (err.value.hint or "")
    assert time.monotonic() - started < 5


def test_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}/a.nc"
        with pytest.raises(ServiceError) as err:
            source(timeout=0.5, attempts=2).fetch(uri, tmp_path / "a.nc", "netcdf")
    assert "ReadTimeout" in str(err.value) and uri in str(err.value)


def test_loopback_is_refused_unless_allow_listed(served, tmp_path: Path) -> None:
    server, folder = served
    uri = server.url(f"{folder}/sst.nc")
    strict = HttpSource(AddressGuard(AllowList()), Limits(10**8, 5, 60, 1))
    with pytest.raises(DataError) as err:
        strict.fetch(uri, tmp_path / "a.nc", "netcdf")
    assert "loopback" in str(err.value) and "network.allow" in str(err.value)
    assert server.body_bytes(folder) == []  # refused before any connection


def test_redirect_to_the_metadata_endpoint_is_refused(served, tmp_path: Path) -> None:
    server, _ = served
    uri = f"{server.base}/metadata-redirect"
    with pytest.raises(DataError) as err:
        source().fetch(uri, tmp_path / "a.nc", "netcdf")
    assert "169.254.169.254" in str(err.value) and "link-local" in str(err.value)


def test_connection_goes_to_the_checked_address_not_to_a_second_dns_answer(served, tmp_path: Path) -> None:
    """DNS rebinding: the name is resolved once, checked, and the connection pinned to that address."""
    server, folder = served
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])  # a rebinding DNS: checked answer, then the attack
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    guard = AddressGuard(AllowList.parse(["127.0.0.1"]), resolver=rebinding)  # the address is allowed, not the name
    http = HttpSource(guard, Limits(10**8, 5, 60, 1))
    uri = f"http://rebind.example.test:{server.port}/files/{folder}/reef.csv"  # no real DNS knows this name
    record = http.fetch(uri, tmp_path / "reef.csv", "csv")
    assert record.status == "downloaded" and sha(tmp_path / "reef.csv") == sha(CSV)  # served by the checked address
    assert asked == ["rebind.example.test"]  # resolved once: the second (metadata) answer was never used
    with pytest.raises(DataError, match="link-local"):  # a fresh request re-checks, and now refuses
        http.probe(uri)


def test_server_without_head_is_probed_with_a_one_byte_range(served) -> None:
    server, folder = served
    http = source()
    validators = http.probe(server.url(f"{folder}/sst.nc", location="nohead"))
    assert validators.etag and validators.size == NC.stat().st_size
    assert [m for m, _, _ in server.body_bytes(f"nohead/{folder}")] == ["HEAD", "GET"]
    assert server.body_bytes(f"nohead/{folder}")[-1][1:] == (206, 1)


def test_the_probe_of_an_unchanged_re_run_imports_no_httpx(served) -> None:
    """The fingerprint's HEAD runs on the standard library: httpx (with trio/anyio via httpcore) is not loaded.

    A fresh interpreter, as a CLI run is: the probe through the pipeline's
    readers gives the validators the downloader records, and leaves
    ``httpx`` out of ``sys.modules`` (#11: the no-change re-run's start-up).
    """
    server, folder = served
    uri = server.url(f"{folder}/sst.nc")
    code = (
        "import sys\n"
        "from bot.adapters.download import Limits\n"
        "from bot.adapters.http_probe import AddressGuard, probe\n"
        "from bot.sources.addresses import AllowList\n"
        f"v = probe(AddressGuard(AllowList.parse(['127.0.0.1'])), Limits(10**8, 5, 60, 1), {uri!r})\n"
        "print(json.dumps([v.to_dict(), sorted({'httpx', 'httpcore', 'trio'} & set(sys.modules))]))\n"
    )
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True)
    probed, loaded = json.loads(out.stdout)
    fetched = source().fetch(uri, server.root / folder / "copy.nc", "netcdf").validators
    assert probed == fetched.to_dict() and fetched.etag and fetched.size == NC.stat().st_size
    assert loaded == []


def test_an_http_source_builds_no_tls_client(served, tmp_path: Path) -> None:
    """The verifying client (CA bundle loaded, ~30-40 ms) is built only for an https hop."""
    server, folder = served
    http = source()
    record = http.fetch(server.url(f"{folder}/reef.csv"), tmp_path / "reef.csv", "csv")
    assert record.status == "downloaded" and sha(tmp_path / "reef.csv") == sha(CSV)
    assert list(http._clients) == [(False, None)]  # the plain, direct client only
    http.close()
