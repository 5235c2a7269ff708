"""Start-up: ``import bot.cli`` and a verb's ``--help`` stay light; the lazy verb list matches the verbs.

Why in a fresh interpreter: the test session itself has imported pandas,
boto3 and the rest long before this test runs, so ``sys.modules`` of the
session says nothing about what the CLI pulls in.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.cli import COMMANDS, load_command
from bot.structs import load
from tests.conftest import run_cli

HEAVY = ("pandas", "deepdiff", "xarray", "pyarrow", "boto3", "frictionless")


def _loaded_after(code: str) -> dict[str, bool]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {list(HEAVY)!r}}}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_bot_cli_loads_no_heavy_library() -> None:
    loaded = _loaded_after("import bot.cli")
    assert not any(loaded.values()), f"import bot.cli loaded {[m for m, v in loaded.items() if v]}"


def test_root_help_imports_no_verb_module() -> None:
    code = (
        "import sys\nfrom bot.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert not [m for m in sys.modules if m.startswith('bot.commands.')], sorted(sys.modules)"
    )
    loaded = _loaded_after(code)
    assert not any(loaded.values())


@pytest.mark.parametrize("verb", sorted(COMMANDS))
def test_verb_help_loads_no_heavy_library(verb: str) -> None:
    """Each verb imports what it uses when it runs: its --help needs none of the data libraries."""
    code = f"from bot.cli import main\ntry:\n    main([{verb!r}, '--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code"
    loaded = _loaded_after(code)
    assert not any(loaded.values()), f"catalog-bot {verb} --help loaded {[m for m, v in loaded.items() if v]}"


@pytest.mark.parametrize("verb", sorted(COMMANDS))
def test_listed_help_is_the_verbs_own(verb: str) -> None:
    command = load_command(verb)
    assert command.name == verb
    assert (command.help or "").strip().splitlines()[0] == COMMANDS[verb]


def test_check_worktree_constant_matches_git_adapter() -> None:
    from bot.adapters.git import WORKTREE
    from bot.commands import check

    assert check.WORKTREE == WORKTREE


def test_unknown_verb_and_missing_argument_are_usage_errors(tmp_path: object) -> None:
    for argv in (["no-such-verb"], ["init"]):
        run = subprocess.run([sys.executable, "-m", "bot", *argv], capture_output=True, text=True, timeout=120)
        assert run.returncode == 2, (argv, run.stderr)
        assert "internal error" not in run.stderr
        assert "Try 'catalog-bot" in run.stderr


def _commands(command: object) -> list[object]:
    subs = list(getattr(command, "commands", {}).values())
    return [command, *[c for sub in subs for c in _commands(sub)]]


@pytest.mark.parametrize("verb", sorted(COMMANDS))
def test_catalog_option_has_one_short_flag_and_flags_show_no_type(verb: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """#17 item 6: ``-C`` wherever ``--catalog`` is accepted; no ``<bool>`` beside a flag.

    The help is rendered in this process (``run_cli``): the text is byte for
    byte what a fresh ``catalog-bot VERB --help`` prints, and this test is
    about the text; start-up is what the fresh-interpreter tests above check.
    """
    for command in _commands(load_command(verb)):
        for param in getattr(command, "params", []):
            opts = getattr(param, "opts", [])
            if "--catalog" in opts:
                assert sorted(opts) == ["--catalog", "-C"], (verb, getattr(command, "name", ""), opts)
    monkeypatch.setenv("COLUMNS", "200")
    run = run_cli(verb, "--help")
    assert run.returncode == 0, run.stderr
    assert "<bool>" not in run.stdout


def test_init_writes_a_gitignore_for_published_output(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as done:
        from bot.cli import main

        main(["init", str(tmp_path / "new")])
    assert done.value.code == 0
    lines = (tmp_path / "new" / ".gitignore").read_text().splitlines()
    assert "_published/" in lines and ".catalog-bot/" in lines


def test_publish_to_s3_without_credentials_says_what_to_run(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No NoCredentialsError deep in an upload: a usage error naming the commands, before any work."""
    import shutil

    from bot.cli import main
    from tests.conftest import EXAMPLE

    catalog = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, catalog)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("CATALOG_BOT_DEV_STATE", str(tmp_path / "no-dev-services"))
    with pytest.raises(SystemExit) as done:
        main(["publish", "-C", str(catalog), "--env", "dev", "--output", str(tmp_path / "out"), "reef-temperature"])
    assert done.value.code == 2
    assert not (tmp_path / "out").exists()  # nothing was written


def test_publish_to_s3_loads_the_dev_services_env_file(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from bot.config import EnvironmentConfig, ensure_s3_credentials

    state = tmp_path / "dev-state"
    state.mkdir()
    (state / "dev.env").write_text(
        "export AWS_ACCESS_KEY_ID=devkey123\nexport AWS_SECRET_ACCESS_KEY='dev secret'\n"
        "export CATALOG_BOT_DEV_S3_URL=http://127.0.0.1:18333\nexport OTHER=not-taken\n"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CATALOG_BOT_DEV_S3_URL", "OTHER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("CATALOG_BOT_DEV_STATE", str(state))
    env = load({"object_store": {"kind": "s3"}}, EnvironmentConfig)
    assert ensure_s3_credentials("dev", env) == state / "dev.env"
    import os

    assert os.environ["AWS_ACCESS_KEY_ID"] == "devkey123"
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == "dev secret"
    assert os.environ["CATALOG_BOT_DEV_S3_URL"] == "http://127.0.0.1:18333"
    assert "OTHER" not in os.environ
    assert ensure_s3_credentials("dev", env) is None  # set now: nothing to load


def test_argo_render_defaults_to_the_catalogs_default_environment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The example's default environment is ``local``; it used to ask for ``prod``, which it does not have."""
    import yaml

    from bot.cli import main
    from tests.conftest import EXAMPLE

    with pytest.raises(SystemExit) as done:
        main(["argo", "render", "--out", str(tmp_path / "flux"), "-C", str(EXAMPLE)])
    assert done.value.code == 0
    manifests = sorted(p.name for p in (tmp_path / "flux").glob("*.yaml"))
    assert manifests
    for name in manifests:
        assert yaml.safe_load((tmp_path / "flux" / name).read_text())["kind"]


STEP_MODULES = ("data", "pygeoapi", "stac", "upload")
STEP_PATH_EXTRAS = (
    "rich.console",
    "jsonschema",
    "bot.pipeline.guard",
    "bot.pipeline.fingerprint",
    "bot.metadata.pygeoapi",
    "bot.adapters.git",  # only a pod given --datasets-from (a pull request's data) needs git
)


def _modules_after(code: str, names: tuple[str, ...]) -> dict[str, bool]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {list(names)!r}}}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cli_code(argv: list[str]) -> str:
    return f"from bot.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"


def test_step_help_loads_no_step_module_and_no_executor() -> None:
    """#16 goal 6: ``catalog-bot step --help`` needs the step names only."""
    names = (*HEAVY, "bot.pipeline.executor", "bot.config", *(f"bot.pipeline.steps.{m}" for m in STEP_MODULES))
    loaded = _modules_after(_cli_code(["step", "--help"]), names)
    assert not any(loaded.values()), [m for m, v in loaded.items() if v]


def test_a_step_pod_imports_its_own_step_module_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An Argo pod runs ``catalog-bot step NAME``: it loads NAME's module, no other step's, no data library.

    generate-stac-item in an empty work folder stops at its first missing
    artifact (a step error, exit 2): by then it has imported everything a
    real run of it imports before reading its inputs.
    """
    from tests.conftest import EXAMPLE

    argv = ["step", "generate-stac-item", "-d", "reef-temperature", "-C", str(EXAMPLE)]
    argv += ["--work", str(tmp_path / "work"), "--output", str(tmp_path / "out")]
    names = (*HEAVY, *STEP_PATH_EXTRAS, *(f"bot.pipeline.steps.{m}" for m in STEP_MODULES))
    loaded = _modules_after(_cli_code(argv), names)
    assert loaded["bot.pipeline.steps.stac"], "the step's own module was not imported: did the step run?"
    others = [m for m, v in loaded.items() if v and m != "bot.pipeline.steps.stac"]
    assert not others, f"catalog-bot step generate-stac-item loaded {others}"


def test_a_skipped_step_pod_imports_no_step_module(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """harvest-metadata of a dataset without a metadata source: start-up, then skipped, nothing else."""
    from tests.conftest import EXAMPLE

    argv = ["step", "harvest-metadata", "-d", "reef-temperature", "-C", str(EXAMPLE), "--output", str(tmp_path / "o")]
    run = subprocess.run([sys.executable, "-m", "bot", *argv], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().startswith("step harvest-metadata for reef-temperature: skipped: no metadata source")
    names = (*HEAVY, *STEP_PATH_EXTRAS, *(f"bot.pipeline.steps.{m}" for m in STEP_MODULES))
    loaded = _modules_after(_cli_code(argv), names)
    assert not any(loaded.values()), [m for m, v in loaded.items() if v]


# What no command needs to start: pydantic (the configuration is msgspec records, bot.structs) and
# importlib.metadata (entry-point scans; pydantic's plugin loader pulled it in).  typer 0.29 coerces
# every parameter through a pydantic TypeAdapter, hence typer's pin below 0.29 in pyproject.
NOT_AT_START = ("pydantic", "pydantic_core", "typer._adapters", "importlib.metadata")


def test_reading_the_configuration_imports_no_pydantic() -> None:
    """#16 goal 6: the configuration, pipeline and PR-report records are msgspec structs."""
    code = "import bot.config, bot.catalog.layout, bot.events.pr_report"
    loaded = _modules_after(code, (*NOT_AT_START, "msgspec"))
    assert loaded["msgspec"], "the probe did not import the records"
    assert not any(v for m, v in loaded.items() if m != "msgspec"), [m for m, v in loaded.items() if v]


PYDANTIC = ("pydantic", "pydantic_core", "typer._adapters")


@pytest.mark.parametrize(
    ("argv", "absent"),
    [
        (["--help"], NOT_AT_START),
        (["step", "harvest-metadata"], NOT_AT_START),
        # a verb's own help is rendered by rich, whose pygments scans entry points (importlib.metadata)
        (["step", "--help"], PYDANTIC),
    ],
    ids=["help", "step-run", "step-help"],
)
def test_help_and_a_step_pod_import_no_pydantic(tmp_path, argv, absent) -> None:  # type: ignore[no-untyped-def]
    """A step pod reads catalog-bot.yaml, the settings and pipeline.yaml, and validates them without pydantic."""
    from tests.conftest import EXAMPLE

    if argv == ["step", "harvest-metadata"]:
        argv = [*argv, "-d", "reef-temperature", "-C", str(EXAMPLE), "--output", str(tmp_path / "o")]
    loaded = _modules_after(_cli_code(argv), (*absent, "bot.catalog.layout", "typer"))
    assert loaded["typer"], "the CLI did not run"
    if len(argv) > 2:
        assert loaded["bot.catalog.layout"], "the step did not read the catalog"
    import typer

    found = [m for m in absent if loaded[m]]
    assert not found, (
        f"catalog-bot {' '.join(argv[:2])} imported {found} (typer {typer.__version__}: pyproject pins <0.29)"
    )


def test_a_step_pod_validates_what_it_reads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Off the pydantic path, the step still refuses a bad pipeline.yaml: file, field path and fix, exit 1."""
    import shutil

    from tests.conftest import EXAMPLE

    catalog = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, catalog)
    pipeline = catalog / "datasets" / "reef-temperature" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("output: parquet", "output: parquet\nacess: public"))
    argv = ["step", "harvest-metadata", "-d", "reef-temperature", "-C", str(catalog), "--output", str(tmp_path / "o")]
    run = subprocess.run([sys.executable, "-m", "bot", *argv], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "datasets/reef-temperature/pipeline.yaml [acess]: unknown field" in run.stderr
    assert "did you mean `access`?" in run.stderr
