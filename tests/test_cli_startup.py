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
    env = EnvironmentConfig.model_validate({"object_store": {"kind": "s3"}})
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


def _models_built_after(code: str) -> dict[str, bool]:
    """Which of the configuration / layout models have a built validator after ``code`` (fresh interpreter)."""
    probe = (
        f"{code}\nimport json, sys\nfrom pydantic import BaseModel\n"
        "mods = [sys.modules[m] for m in ('bot.config', 'bot.catalog.layout') if m in sys.modules]\n"
        "models = {f'{m.__name__}.{k}': v for m in mods for k, v in vars(m).items()\n"
        "          if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ == m.__name__}\n"
        "print(json.dumps({k: bool(v.__pydantic_complete__) for k, v in models.items()}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_configuration_builds_no_model() -> None:
    """#16 goal 6: models are built on first use (``defer_build``), so an import costs no schema building."""
    built = _models_built_after("import bot.config, bot.catalog.layout")
    assert len(built) >= 15, sorted(built)  # the probe saw the models
    assert not any(built.values()), [m for m, v in built.items() if v]


def test_a_step_pod_builds_only_the_models_it_validates_with(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A skipped step builds the validators of what it reads, not of every model of the two modules.

    It validates catalog-bot.yaml (``CatalogConfig``, its sections inline),
    the settings and pipeline.yaml, and instantiates the embedded ``local``
    environment (``EnvironmentConfig`` and its sections' defaults).  Models it
    never touches -- subsets, THREDDS and metadata sources, the command policy,
    the image, the network rules -- stay unbuilt.
    """
    from tests.conftest import EXAMPLE

    argv = ["step", "harvest-metadata", "-d", "reef-temperature", "-C", str(EXAMPLE), "--output", str(tmp_path / "o")]
    built = _models_built_after(_cli_code(argv))
    used = {"CatalogConfig", "Settings", "PipelineSpec"}
    defaults = {"EnvironmentConfig", "ObjectStoreConfig", "StacConfig", "PygeoapiConfig", "ArgoConfig", "RenderLimits"}
    untouched = {"Subset", "ThreddsSource", "MetadataSource", "CommandPolicy", "ImageConfig", "NetworkConfig"}
    names = {m.rsplit(".", 1)[1]: v for m, v in built.items()}
    assert untouched | used <= set(names), sorted(names)  # the probe sees the models it names
    assert all(names[m] for m in used), {m: names[m] for m in used}
    assert {m for m, v in names.items() if v} <= used | defaults, sorted(m for m, v in names.items() if v)
    assert not any(names[m] for m in untouched), {m: names[m] for m in untouched}


def test_a_step_pod_builds_no_typer_type_adapter(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """typer 0.29 builds a pydantic TypeAdapter per parameter when a verb parses (pinned below it in pyproject)."""
    from tests.conftest import EXAMPLE

    argv = ["step", "harvest-metadata", "-d", "reef-temperature", "-C", str(EXAMPLE), "--output", str(tmp_path / "o")]
    loaded = _modules_after(_cli_code(argv), ("typer._adapters", "pydantic.type_adapter", "bot.config"))
    assert loaded["bot.config"], "the step did not run"
    import typer

    assert not loaded["typer._adapters"] and not loaded["pydantic.type_adapter"], (
        f"typer {typer.__version__} coerces parameters with pydantic; pyproject pins typer<0.29: "
        "`pip install -e .` in this environment"
    )


@pytest.mark.parametrize(("given", "expected"), [(None, "__all__"), ("logfire", "logfire")])
def test_the_cli_skips_pydantic_plugin_discovery_unless_told_otherwise(tmp_path, given, expected) -> None:  # type: ignore[no-untyped-def]
    """No entry-point scan of every installed distribution at the first model build; a user's setting wins."""
    import os

    from tests.conftest import EXAMPLE

    argv = ["step", "harvest-metadata", "-d", "reef-temperature", "-C", str(EXAMPLE), "--output", str(tmp_path / "o")]
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if given is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = given
    probe = f"{_cli_code(argv)}\nimport os\nprint(os.environ.get('PYDANTIC_DISABLE_PLUGINS'))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120, env=env
    )
    assert out.stdout.strip().splitlines()[-1] == expected
