"""Trust boundary, rendering side: PR Jsonnet runs in a child without secrets, under time/memory/output limits.

Each bomb of issue #10 (exponential recursion, ``std.repeat`` to 1e8+ characters, an
answer larger than the output cap) must end with a clear, located error within the limit,
and the child that evaluates it must not hold any secret of the parent.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.catalog.render import JsonnetError, Renderer
from bot.catalog.sandbox import Worker, child_env
from bot.config import RenderLimits
from bot.logging import render_sandbox_required

EXT = {"environment": "test", "data_base_url": "", "stac_api_url": ""}
SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "ARGO_TOKEN": "Bearer argo-0123456789abcdef",
    "GITHUB_TOKEN": "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
}


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_process_holding_secrets_always_renders_in_the_sandbox(
    tmp_path: Path, secrets_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert render_sandbox_required()
    assert Renderer(tmp_path, [], EXT).sandboxed
    for name in SECRETS:
        monkeypatch.delenv(name)
    assert render_sandbox_required({"PATH": "/usr/bin"}) is False
    assert render_sandbox_required({"CATALOG_BOT_RENDER_SANDBOX": "1"}) is True


def test_the_child_environment_is_an_allow_list(tmp_path: Path, secrets_env: dict[str, str]) -> None:
    """Read the real child's /proc/<pid>/environ and limits: no secret, the configured memory limit."""
    env = child_env()
    assert not set(SECRETS) & set(env)
    limits = RenderLimits(memory_mb=512)
    worker = Worker(
        {
            "root": str(tmp_path),
            "lib_dirs": [],
            "ext_vars": EXT,
            "engine": "cpp",
            "max_stack": 500,
            "max_bytes": 1 << 20,
            "max_trace": 20,
            "max_depth": 2000,
            "batch_size": 8,
        },
        limits,
    )
    try:
        environ = Path(f"/proc/{worker.proc.pid}/environ").read_bytes()
        for value in SECRETS.values():
            assert value.encode() not in environ
        assert b"AWS_" not in environ and b"TOKEN" not in environ
        proc_limits = Path(f"/proc/{worker.proc.pid}/limits").read_text()
        data_line = next(line for line in proc_limits.splitlines() if line.startswith("Max data size"))
        assert str(512 * 1024 * 1024) in data_line
        core_line = next(line for line in proc_limits.splitlines() if line.startswith("Max core file size"))
        assert core_line.split()[4] == "0"
    finally:
        worker.stop()


@pytest.mark.parametrize("engine", ["go", "cpp"])
def test_each_bomb_gives_a_clear_error_within_the_limit(tmp_path: Path, engine: str) -> None:
    """Each bomb is stopped by the limit it attacks.

    The limits a bomb does not attack are generous for it (a 60 s clock for
    the memory and output bombs), so a loaded machine cannot turn a memory or
    output limit into a time-out and the test proves every limit on its own.
    """
    tight = RenderLimits(timeout_s=1, memory_mb=512, max_output_mb=1)  # a 1 s clock proves the limit as well as 3 s
    patient = RenderLimits(timeout_s=60, memory_mb=512, max_output_mb=1)
    bombs = {
        "datasets/exp/collection.jsonnet": (
            "local f(n) = if n == 0 then [] else f(n - 1) + f(n - 1);\n{ a: f(45) }\n",
            tight,
            "took longer than 1 s",
        ),
        "datasets/mem/collection.jsonnet": (
            "local s = std.repeat('x', 100000000);\n{ a: [s + std.toString(i) for i in std.range(1, 20)] }\n",
            patient,
            "more than 512 MB",
        ),
        "datasets/out/collection.jsonnet": ("{ a: std.range(100000, 400000) }\n", patient, "larger than 1 MB"),
    }
    for rel, (text, _, _) in bombs.items():
        _write(tmp_path, rel, text)
    _write(tmp_path, "datasets/fine/collection.jsonnet", "{ id: 'fine' }\n")
    for rel, (_, limits, expected) in bombs.items():
        renderer = Renderer(tmp_path, [], EXT, engine, sandbox=True, limits=limits)
        started = time.monotonic()
        results = {r.path: r for r in renderer.render_many([rel, "datasets/fine/collection.jsonnet"], jobs=1)}
        elapsed = time.monotonic() - started
        assert results["datasets/fine/collection.jsonnet"].value == {"id": "fine"}, rel
        error = results[rel].error
        assert isinstance(error, JsonnetError), rel
        assert error.file == rel and error.kind == "limit", (rel, error.message)
        assert expected in error.message, (rel, error.message)
        assert error.hint
        assert elapsed < limits.timeout_s + 30, f"{rel} took {elapsed:.0f} s"


def test_render_file_in_the_sandbox_raises_the_located_error(tmp_path: Path) -> None:
    _write(tmp_path, "lib/x.libsonnet", "{ a: error 'boom from lib' }")
    path = _write(tmp_path, "c.jsonnet", "(import 'lib/x.libsonnet').a")
    with pytest.raises(JsonnetError) as info:
        Renderer(tmp_path, [], EXT, "cpp", sandbox=True).render_file(path)
    assert "boom from lib" in str(info.value)
    good = _write(tmp_path, "ok.jsonnet", "{ v: std.extVar('environment') }")
    assert Renderer(tmp_path, [], EXT, "go", sandbox=True).render_file(good) == {"v": "test"}
