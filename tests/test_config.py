"""catalog-bot.yaml, pipeline.yaml and the PR report as msgspec records: located errors, defaults, secrets.

Each bad document is a realistic one (the example catalog's files with one
mistake), read the way the CLI reads it, and each error must name the file,
the dotted field path and the fix -- what pydantic gave before (issue #16
moved the records to msgspec).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest

from bot.catalog.layout import Catalog, PipelineSpec, load_pipeline
from bot.config import CONFIG_FILE, CatalogConfig, EnvironmentConfig, Secret, Settings, load_catalog_config
from bot.errors import ConfigError, UsageError
from bot.events.pr_report import PrReport, load_pr_report
from bot.structs import InvalidData, load
from tests.conftest import EXAMPLE

DEV = """version: 1
title: Reef observations
default_environment: local
environments:
  dev:
    engine: local
    output: _published/dev
    object_store:
      kind: s3
      endpoint_url: ${CATALOG_BOT_DEV_S3_URL:-http://127.0.0.1:8333}
      public_bucket: reef-public
      max_concurrency: 12
    stac: {kind: api, url: "${STAC_URL:-http://127.0.0.1:8082}"}
variables: [CATALOG_BOT_DEV_S3_URL, STAC_URL]
"""


def _config_error(tmp_path: Path, text: str) -> ConfigError:
    (tmp_path / CONFIG_FILE).write_text(text)
    with pytest.raises(ConfigError) as info:
        load_catalog_config(tmp_path)
    assert info.value.file == CONFIG_FILE and info.value.exit_code == 1
    return info.value


def test_a_valid_configuration_keeps_its_defaults_and_expands_declared_variables(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text(DEV)
    config = load_catalog_config(tmp_path)
    assert config.commands.publish == "maintain" and config.labels == {"dataset": "dataset", "harvest": "harvest"}
    assert config.render.memory_mb == 1024 and config.network.attempts == 5
    dev = config.environment("dev", {"STAC_URL": "https://stac.example.org"})
    assert dev.object_store.endpoint_url == "http://127.0.0.1:8333"  # the default of the placeholder
    assert dev.stac.url == "https://stac.example.org" and dev.object_store.max_concurrency == 12
    assert dev.object_store.multipart_threshold_mb == 16 and dev.pygeoapi.kind == "config"
    assert config.environment("local") == EnvironmentConfig()  # the embedded default
    with pytest.raises(AttributeError):
        dev.output = "elsewhere"  # type: ignore[misc]  # frozen


def test_a_wrong_type_deep_in_an_environment_names_the_full_path(tmp_path: Path) -> None:
    err = _config_error(
        tmp_path, DEV.replace("endpoint_url: ${CATALOG_BOT_DEV_S3_URL:-http://127.0.0.1:8333}", "endpoint_url: 8333")
    )
    assert err.field == "environments.dev.object_store.endpoint_url"
    assert "expected text" in err.message and "8333" in err.message
    assert str(err).startswith("catalog-bot.yaml [environments.dev.object_store.endpoint_url]: ")


def test_a_choice_lists_the_allowed_values(tmp_path: Path) -> None:
    err = _config_error(tmp_path, DEV.replace("engine: local", "engine: kubernetes"))
    assert err.field == "environments.dev.engine"
    assert err.message.endswith("]: 'kubernetes' is not an allowed value")
    assert err.hint == "use one of 'local', 'argo'"


def test_an_unknown_key_is_a_typo_with_a_suggestion(tmp_path: Path) -> None:
    err = _config_error(tmp_path, DEV.replace("public_bucket: reef-public", "public_buckt: reef-public"))
    assert err.field == "environments.dev.object_store.public_buckt" and err.message.endswith("]: unknown field")
    assert err.hint is not None and "remove `public_buckt`" in err.hint and "`public_bucket`" in err.hint


def test_a_bound_names_the_limit_and_the_value(tmp_path: Path) -> None:
    err = _config_error(tmp_path, DEV + "render: {memory_mb: 100}\n")
    assert err.field == "render.memory_mb" and err.message.endswith("]: expected an integer >= 256, got 100")


def test_a_check_of_one_field_is_located_at_that_field(tmp_path: Path) -> None:
    err = _config_error(tmp_path, DEV + "commands: {publish: superuser}\n")
    assert err.field == "commands.publish" and "unknown permission 'superuser'" in err.message
    assert "maintain" in err.message  # the permissions are listed
    err = _config_error(tmp_path, DEV.replace("STAC_URL]", "STAC_URL, GITHUB_TOKEN]"))
    assert err.field == "variables" and "looks like a secret" in err.message
    err = _config_error(tmp_path, DEV + "network: {allow: [10.0.0.0/33]}\n")
    assert err.field == "network.allow" and "10.0.0.0/33" in err.message


def test_keys_and_the_document_itself(tmp_path: Path) -> None:
    err = _config_error(tmp_path, "version: 1\nenvironments:\n  1: {}\n")
    assert err.field == "environments" and "keys must be text" in err.message
    err = _config_error(tmp_path, "version: 2\n")
    assert err.field == "version" and "use one of 1" in (err.hint or "")


def test_a_placeholder_is_text_so_a_number_field_refuses_it_at_load(tmp_path: Path) -> None:
    """Placeholders are for URLs and names: a number or a choice is checked before anything is expanded."""
    err = _config_error(tmp_path, DEV.replace("max_concurrency: 12", "max_concurrency: ${THREADS:-8}"))
    assert err.field == "environments.dev.object_store.max_concurrency"
    assert "expected an integer, got text ('${THREADS:-8}')" in err.message


def _pipeline_error(tmp_path: Path, text: str) -> ConfigError:
    shutil.copytree(EXAMPLE, tmp_path / "c", dirs_exist_ok=True)
    path = tmp_path / "c" / "datasets" / "reef-temperature" / "pipeline.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        Catalog.open(tmp_path / "c").dataset("reef-temperature").pipeline()
    assert info.value.file == "datasets/reef-temperature/pipeline.yaml"
    return info.value


REEF = "source:\n  path: data/reef.csv\n  format: csv\noutput: parquet\ncoordinates: {x: lon, y: lat, t: time}\n"


def test_pipeline_errors_name_the_field_of_the_failed_check(tmp_path: Path) -> None:
    err = _pipeline_error(tmp_path, REEF.replace("data/reef.csv", "file:///etc/passwd"))
    assert err.field == "source.path" and "scheme 'file'" in err.message
    err = _pipeline_error(tmp_path, REEF.replace("path: data/reef.csv", "paths: [data/a.csv, ftp://x.org/b.csv]"))
    assert err.field == "source.paths" and "ftp" in err.message
    err = _pipeline_error(tmp_path, REEF + "schedule: '61 * * * *'\n")
    assert err.field == "schedule" and "minute" in err.message
    err = _pipeline_error(tmp_path, REEF.replace("format: csv", "format: xlsx"))
    assert err.field == "source.format" and "'xlsx'" in err.message and "'geotiff'" in (err.hint or "")


def test_pipeline_record_wide_checks_and_missing_fields(tmp_path: Path) -> None:
    err = _pipeline_error(tmp_path, REEF.replace("{x: lon, y: lat, t: time}", "{t: time}"))
    assert err.field == "" or err.field is None
    assert "tabular output needs coordinates.geometry" in err.message
    err = _pipeline_error(tmp_path, REEF + "metadata_source: {kind: csw}\n")
    assert (
        err.field == "metadata_source.url"
        and err.message.endswith("]: missing required field")
        and err.hint == "add `url`"
    )
    err = _pipeline_error(tmp_path, REEF + "metadata_source: {kind: csw, url: 'https://csw.example.org'}\n")
    assert err.field == "metadata_source" and "needs record_id" in err.message
    err = _pipeline_error(
        tmp_path, REEF.replace("path: data/reef.csv", "path: data/reef.csv\n  subset: {bbox: [10, 0, 5, 1]}")
    )
    assert err.field == "source.subset.bbox" and "west < east" in err.message


def test_replace_checks_again_and_dumps_are_plain_data(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(REEF + "chunks: {time: 24}\n")
    spec = load_pipeline(path)
    moved = msgspec.structs.replace(spec, source=msgspec.structs.replace(spec.source, delimiter=";"))
    assert moved.source.delimiter == ";" and spec.source.delimiter == ","
    with pytest.raises(ValueError, match="exactly one of"):
        msgspec.structs.replace(spec.source, path=None)  # the record's checks run on copies too
    dumped = msgspec.to_builtins(spec)
    assert json.loads(json.dumps(dumped)) == dumped and dumped["chunks"] == {"time": 24}
    assert load(dumped, PipelineSpec) == spec


def test_settings_keep_secrets_out_of_every_rendering() -> None:
    token = "ghs_" + "x7" * 18
    settings = Settings.from_env({"GITHUB_TOKEN": token, "CATALOG_BOT_SLACK_WEBHOOK": "https://hooks.slack.com/s/abc"})
    for text in (repr(settings), str(settings), repr(settings.github_token), str(settings.github_token)):
        assert token not in text and "hooks.slack" not in text
    assert "**********" in repr(settings)
    assert settings.github_token is not None and settings.github_token.get_secret_value() == token
    assert sorted(settings.secrets()) == sorted([token, "https://hooks.slack.com/s/abc"])
    assert Secret("a") == Secret("a") != Secret("b")
    assert Settings.from_env({}).secrets() == []


SHA = "a" * 40


def _report(**changes: object) -> dict[str, object]:
    report: dict[str, object] = {
        "pr": 7,
        "head_sha": SHA,
        "base_sha": "b" * 40,
        "conclusion": "failure",
        "title": "1 error",
        "bodies": ["## catalog-bot\n1 error"],
        "annotations": [
            {
                "path": "datasets/reef-temperature/collection.jsonnet",
                "start_line": 3,
                "end_line": 3,
                "annotation_level": "failure",
                "message": "license is missing",
            }
        ],
    }
    return report | changes


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"head_sha": "not-a-sha"}, "[head_sha]"),
        ({"pr": 0}, "[pr]"),
        ({"bodies": []}, "[bodies]"),
        ({"bodies": ["x" * 70_000]}, "[bodies]"),
        ({"admin": True}, "[admin]: unknown field"),
        ({"annotations": [{**_report()["annotations"][0], "path": "/etc/passwd"}]}, "[annotations.0.path]"),  # type: ignore[index]
        (
            {"annotations": [{**_report()["annotations"][0], "annotation_level": "fatal"}]},
            "[annotations.0.annotation_level]",
        ),  # type: ignore[index]
    ],
)
def test_a_forged_pr_report_is_refused_at_its_field(tmp_path: Path, changes: dict[str, object], where: str) -> None:
    (tmp_path / "pr-report.json").write_text(json.dumps(_report(**changes)))
    with pytest.raises(UsageError) as info:
        load_pr_report(tmp_path)
    assert where in str(info.value) and "malformed or forged" in str(info.value)


def test_a_pr_report_round_trips_through_its_file(tmp_path: Path) -> None:
    report = load(_report(), PrReport)
    written = report.write(tmp_path)
    assert load_pr_report(tmp_path) == report
    assert json.loads(written.read_text())["annotations"][0]["start_line"] == 3
    (tmp_path / "pr-report.json").write_text("{not json")
    with pytest.raises(UsageError, match=r"\[\(document\)\]"):
        load_pr_report(tmp_path)


def test_load_errors_are_value_errors_with_the_path() -> None:
    with pytest.raises(InvalidData) as info:
        load({"environments": {"dev": {"stac": {"kind": "static", "root": 3}}}}, CatalogConfig)
    assert info.value.located.field == "environments.dev.stac.root"
    assert isinstance(info.value, ValueError) and str(info.value).startswith("environments.dev.stac.root: ")
