"""scripts/dev_services.py (the devsvc package): state file, PID safety, idempotent `up`, status and env output."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tests.services
from tests.services import REPO, dev_services, load_dev_module, private_state_dir  # noqa: F401  (fixture)

SCRIPT = REPO / "scripts" / "dev_services.py"


@pytest.fixture
def module():
    return load_dev_module()


def sleeper() -> subprocess.Popen:
    """A child running ``time.sleep(60)``, returned once /proc shows its own command line.

    Until the child has exec'd, /proc shows the parent's command line, so a
    PID check made right away can fail under load (seen 2026-11-30 at load 6).
    """
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + 30
    while b"time.sleep(60)" not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc


def test_down_stops_only_processes_whose_command_line_still_matches(module, tmp_path: Path) -> None:
    ours, stranger = sleeper(), sleeper()
    try:
        state = {
            "credentials": {"access_key": "k", "secret_key": "s"},
            "services": {
                # recorded as ours and still matching: stopped
                "stac": {"pid": ours.pid, "expect": "time.sleep(60)", "url": "http://127.0.0.1:1", "port": 1},
                # a recycled PID now running something else: left alone
                "pygeoapi": {"pid": stranger.pid, "expect": "gunicorn", "url": "http://127.0.0.1:2", "port": 2},
            },
        }
        module.save_state(tmp_path, state)
        module.down(tmp_path)
        assert ours.wait(timeout=10) is not None
        assert stranger.poll() is None
        assert module.load_state(tmp_path)["services"] == {}
    finally:
        for proc in (ours, stranger):
            proc.kill()
            proc.wait()


def test_a_recycled_pid_running_another_instance_of_the_same_server_is_left_alone(module) -> None:
    """PIDs wrap fast (pid_max 32768): a stale record must match this instance's data folder, not just 'weed'."""
    other = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "weed", "mini", "-dir=/srv/other/s3/data"],
        start_new_session=True,
    )
    try:
        # Until the child has exec'd, /proc shows the parent's command line: wait for its own.
        deadline = time.monotonic() + 30
        while not module.pid_is(other.pid, "-dir=/srv/other/s3/data") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert module.pid_is(other.pid, "-dir=/srv/other/s3/data")
        assert not module.stop_group(other.pid, "-dir=/srv/ours/s3/data")
        assert other.poll() is None
        assert module.stop_group(other.pid, "-dir=/srv/other/s3/data")
        assert other.wait(timeout=10) is not None
    finally:
        other.kill()
        other.wait()


def test_state_and_env_files_are_private_and_complete(module, tmp_path: Path) -> None:
    state = {
        "credentials": {"access_key": "devkey", "secret_key": "devsecret"},
        "services": {
            "s3": {"pid": 1, "url": "http://127.0.0.1:8333", "port": 8333},
            "stac": {"pid": 2, "url": "http://127.0.0.1:8082", "port": 8082},
            "pygeoapi": {"pid": 3, "url": "http://127.0.0.1:5055", "port": 5055},
        },
    }
    module.save_state(tmp_path, state)
    for name in ("state.json", "dev.env"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    env_text = (tmp_path / "dev.env").read_text()
    for line in (
        "export CATALOG_BOT_DEV_S3_URL=http://127.0.0.1:8333",
        "export CATALOG_BOT_DEV_PUBLIC_BASE_URL=http://127.0.0.1:8333/catalog-public",
        "export CATALOG_BOT_DEV_STAC_URL=http://127.0.0.1:8082",
        "export CATALOG_BOT_DEV_PYGEOAPI_URL=http://127.0.0.1:5055",
        "export AWS_ACCESS_KEY_ID=devkey",
    ):
        assert line in env_text.splitlines()
    printed = subprocess.run(
        [sys.executable, str(SCRIPT), "env", "--state", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout
    assert printed.strip().splitlines() == env_text.strip().splitlines()


def test_status_without_state_fails_with_a_hint(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "status", "--state", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 1 and "run `up`" in result.stdout


def test_unknown_service_is_refused(module, tmp_path: Path) -> None:
    with pytest.raises(module.DevError, match="unknown service 'mongo'"):
        module.up(tmp_path, ["mongo"], do_install=False)
    assert module.expand(["stac"]) == ["postgres", "stac"]  # stac brings its database


def test_parallel_up_reports_every_failure_and_records_nothing_half_started(
    module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No server installed: S3 fails to start, and pygeoapi (which waits for S3's URL) says why it did not start."""
    monkeypatch.setattr(sys.modules["devsvc.install"], "VENVS", tmp_path / "no-venvs")  # where venv_bin looks
    with pytest.raises(module.DevError) as info:
        module.up(tmp_path / "state", ["s3", "pygeoapi"], do_install=False)
    message = str(info.value)
    assert f"command not found: {tmp_path / 'no-venvs' / 'seaweedfs' / 'bin' / 'weed'}" in message
    assert "pygeoapi: not started because s3 failed" in message
    assert module.load_state(tmp_path / "state").get("services", {}) == {}


def test_free_port_avoids_taken_ports(module) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        port = module.free_port(taken)
        assert port != taken and port < 55000
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_script_imports_only_the_standard_library() -> None:
    """CI runs it before anything is installed: stdlib only."""
    code = (
        "import sys, importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('d', {str(SCRIPT)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in {'bot','httpx','boto3','yaml','pydantic','requests'}]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.services
def test_up_is_idempotent_and_status_reports_healthy(dev_services, module) -> None:  # noqa: F811
    before = {name: info["pid"] for name, info in dev_services.state["services"].items()}
    state = module.up(dev_services.state_dir, do_install=False)
    assert {name: info["pid"] for name, info in state["services"].items()} == before
    assert module.status(dev_services.state_dir) == 0
    recorded = json.loads((dev_services.state_dir / "state.json").read_text())
    assert recorded["env"]["CATALOG_BOT_DEV_S3_URL"] == dev_services.s3_url
    assert all(str(info["port"]) in (info.get("url") or str(info["port"])) for info in recorded["services"].values())
    assert os.path.exists(recorded["services"]["pygeoapi"]["config"])


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.mark.skipif(os.geteuid() != 0 or not _has_user("postgres"), reason="only root runs PostgreSQL as postgres")
def test_private_state_dir_is_usable_by_the_postgres_user() -> None:
    """What start_postgres does there (chown a folder to postgres, which writes in it) works, unlike under tmp_path."""
    path = private_state_dir("t-private")
    try:
        own = path / "postgres"
        own.mkdir()
        shutil.chown(own, "postgres", "postgres")
        probe = subprocess.run(
            ["runuser", "-u", "postgres", "--", "sh", "-c", 'touch "$1/PG_VERSION" && ls "$1"', "-", str(own)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.split() == ["PG_VERSION"]
        for folder in (path, path.parent):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o711  # others pass through, never list or write
    finally:
        shutil.rmtree(path)
    assert not path.exists()


def test_private_state_dir_refuses_a_base_that_is_a_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "base"
    link.symlink_to(elsewhere)
    monkeypatch.setattr(tests.services, "PRIVATE_BASE", link)
    with pytest.raises(RuntimeError, match="not a folder owned by"):
        private_state_dir("t-link")
    assert list(elsewhere.iterdir()) == []


def test_dev_pygeoapi_placeholder_is_hidden_and_the_config_is_valid(module, tmp_path: Path) -> None:
    """The placeholder keeps pygeoapi's OpenAPI buildable but is never listed as a collection."""
    import jsonschema
    import yaml

    from bot.catalog.schemas import SchemaRegistry
    from bot.metadata.pygeoapi import pygeoapi_schema_path
    from tests.conftest import SCHEMAS

    config = module.pygeoapi_config("http://127.0.0.1:5000", 5000, str(tmp_path / "placeholder.geojson"))
    [(rid, resource)] = config["resources"].items()
    assert rid == "catalog-bot-dev" and resource["visibility"] == "hidden"
    schema = yaml.safe_load(pygeoapi_schema_path(SchemaRegistry(SCHEMAS, None)).read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(json.dumps(config)), schema)


def test_an_older_dev_pygeoapi_config_gets_its_placeholder_hidden_on_the_next_up(module, tmp_path: Path) -> None:
    """A state folder from before the placeholder was hidden keeps its config across `up`: the update hides it."""
    import yaml

    config = module.pygeoapi_config("http://127.0.0.1:5000", 5000, str(tmp_path / "placeholder.geojson"))
    del config["resources"]["catalog-bot-dev"]["visibility"]
    config["resources"]["published"] = {"type": "collection", "title": "kept as it was"}
    cfg = tmp_path / "pygeoapi-config.yml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    module.update_config(Path(sys.executable), cfg, "http://127.0.0.1:5099", 5099)
    updated = yaml.safe_load(cfg.read_text())
    assert updated["resources"]["catalog-bot-dev"]["visibility"] == "hidden"
    assert updated["resources"]["published"] == {"type": "collection", "title": "kept as it was"}
    assert updated["server"]["url"] == "http://127.0.0.1:5099" and updated["server"]["bind"]["port"] == 5099
