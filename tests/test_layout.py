"""The catalog contract: catalog-bot.yaml, dataset discovery, ids, pipeline.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog.init import init_catalog
from bot.catalog.layout import Catalog, check_cron, check_dataset_id
from bot.config import CatalogConfig, Settings
from bot.errors import CatalogError, ConfigError, UsageError
from bot.structs import load


def test_example_catalog_discovers_four_datasets_of_both_kinds(example_catalog: Path) -> None:
    catalog = Catalog.open(example_catalog)
    kinds = {d.id: d.pipeline().kind for d in catalog.datasets()}
    assert kinds == {
        "marine-protected-areas": "tabular",
        "reef-temperature": "tabular",
        "reef-temperature-daily": "tabular",  # the remote source (S3 daily files)
        "sea-surface-temperature": "gridded",
    }
    assert all(not d.missing_files() for d in catalog.datasets())
    assert catalog.dataset("sea-surface-temperature").schema_file == "gridschema.json"


@pytest.mark.parametrize("bad", ["A-upper", "-leading", "x", "has_underscore", "a" * 64, "../etc"])
def test_invalid_dataset_ids_are_rejected_with_the_rule(bad: str) -> None:
    with pytest.raises(CatalogError, match="invalid dataset id") as info:
        check_dataset_id(bad)
    assert "lower-case" in str(info.value)


def test_invalid_dataset_folder_is_reported_not_loaded(example_catalog: Path) -> None:
    (example_catalog / "datasets" / "Bad_Name").mkdir()
    catalog = Catalog.open(example_catalog)
    assert catalog.invalid_dataset_dirs() == ["Bad_Name"]
    assert "Bad_Name" not in catalog.ids()
    with pytest.raises(UsageError, match="invalid dataset id"):
        catalog.dataset("Bad_Name")


def test_unknown_dataset_lists_known_ones(example_catalog: Path) -> None:
    with pytest.raises(UsageError) as info:
        Catalog.open(example_catalog).dataset("no-such-dataset")
    assert "reef-temperature" in str(info.value)


def test_config_unknown_field_names_file_field_and_fix(example_catalog: Path) -> None:
    cfg = example_catalog / "catalog-bot.yaml"
    cfg.write_text(cfg.read_text() + "\nenvironmnets: {}\n")
    with pytest.raises(ConfigError) as info:
        Catalog.open(example_catalog)
    text = str(info.value)
    assert "catalog-bot.yaml" in text and "environmnets" in text and "spelling" in text
    assert info.value.exit_code == 1


def test_config_invalid_yaml_has_line(example_catalog: Path) -> None:
    (example_catalog / "catalog-bot.yaml").write_text("version: 1\ncommands: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        Catalog.open(example_catalog)
    assert info.value.line is not None and "invalid YAML" in str(info.value)


def test_config_bad_permission_and_unknown_environment() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        load({"commands": {"publish": "superuser"}}, CatalogConfig)
    with pytest.raises(ConfigError, match="unknown environment 'prod'"):
        CatalogConfig().environment("prod")
    assert CatalogConfig().environment("local").engine == "local"


def test_pipeline_errors_name_file_and_field(example_catalog: Path) -> None:
    path = example_catalog / "datasets" / "reef-temperature" / "pipeline.yaml"
    path.write_text("source: {path: data/x.csv, format: csv}\noutput: parquet\ncoordinates: {z: depth}\n")
    with pytest.raises(CatalogError) as info:
        Catalog.open(example_catalog).dataset("reef-temperature").pipeline()
    assert "datasets/reef-temperature/pipeline.yaml" in str(info.value)
    assert "coordinates" in str(info.value)


@pytest.mark.parametrize("expr", ["0 3 * * 1", "*/15 * * * *", "0 0 1,15 * *", "@daily", "30 2 * jan-mar mon-fri"])
def test_valid_cron(expr: str) -> None:
    assert check_cron(expr) == expr


@pytest.mark.parametrize("expr", ["61 * * * *", "* * *", "every day", "0 25 * * *", "@sometimes"])
def test_invalid_cron(expr: str) -> None:
    with pytest.raises(ValueError):
        check_cron(expr)


def test_not_a_catalog_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a catalog"):
        Catalog.open(tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        Catalog.open(tmp_path / "missing")


def test_init_creates_a_catalog_that_opens(tmp_path: Path) -> None:
    written = init_catalog(tmp_path / "new")
    catalog = Catalog.open(tmp_path / "new")
    assert catalog.datasets() == []
    assert (tmp_path / "new" / "lib" / "catalog.libsonnet").exists()
    assert any(p.name == "catalog-bot.yaml" for p in written)
    with pytest.raises(UsageError, match="not empty"):
        init_catalog(tmp_path / "new")
    init_catalog(tmp_path / "ex", with_examples=True)
    assert len(Catalog.open(tmp_path / "ex").datasets()) == 4


def test_settings_hide_secrets() -> None:
    settings = Settings.from_env({"GITHUB_TOKEN": "ghs_supersecret123", "ARGO_TOKEN": "Bearer abc123456"})
    assert "supersecret" not in repr(settings)
    assert set(settings.secrets()) == {"ghs_supersecret123", "Bearer abc123456"}


def test_init_pins_the_workflows_to_a_release(tmp_path: Path) -> None:
    from bot.catalog.init import ACTION_PLACEHOLDER

    sha = "a" * 40
    init_catalog(tmp_path / "c", action=f"example-org/catalog-bot@{sha}")
    workflows = list((tmp_path / "c" / ".github" / "workflows").glob("*.yml"))
    assert workflows
    text = "".join(p.read_text() for p in workflows)
    assert ACTION_PLACEHOLDER not in text and f"example-org/catalog-bot@{sha}" in text
    with pytest.raises(UsageError, match="40-character"):
        init_catalog(tmp_path / "d", action="example-org/catalog-bot@v1")
    assert not (tmp_path / "d").exists()
