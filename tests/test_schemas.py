"""The offline schema registry: URL -> mirror path rules, cache, validators, no network."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from bot.catalog.schemas import (
    SchemaRegistry,
    derive_mirror_path,
    normalize_url,
    stac_core_url,
)
from bot.errors import SchemaNotFound


@pytest.fixture
def registry(schemas_dir: Path, tmp_path: Path) -> SchemaRegistry:
    return SchemaRegistry(schemas_dir, tmp_path / "cache")


def _sources_table(schemas_dir: Path) -> list[tuple[str, str]]:
    """(canonical URL, local path) rows of the mirror's own SOURCES.md table."""
    rows = []
    for line in (schemas_dir / "SOURCES.md").read_text().splitlines():
        match = re.match(r"^\| (https://\S+) \| `([^`]+)` \|", line)
        if match:
            rows.append((match.group(1), match.group(2)))
    return rows


def test_rules_derive_every_path_listed_in_the_mirror(schemas_dir: Path) -> None:
    rows = _sources_table(schemas_dir)
    assert len(rows) > 50  # the table was parsed
    wrong = [(url, path, derive_mirror_path(url)) for url, path in rows if derive_mirror_path(url) != path]
    assert wrong == []


def test_every_listed_json_schema_loads_and_its_refs_resolve_offline(
    registry: SchemaRegistry, schemas_dir: Path
) -> None:
    for url, path in _sources_table(schemas_dir):
        if not path.endswith(".json"):
            continue
        assert registry.get(url) == json.loads((schemas_dir / path).read_text())
        if path.endswith("registry.json"):  # a profile list, not a schema
            with pytest.raises(SchemaNotFound):
                registry.validator(url)
            continue
        # building the validator crawls all $refs; checking the empty object exercises them
        list(registry.validator(url).iter_errors({}))


def test_normalize_url_strips_fragment_hash_and_upgrades_http() -> None:
    assert normalize_url("http://schemas.stacspec.org/v1.0.0/item-spec/json-schema/item.json#") == (
        "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/item.json"
    )
    # the JSON Schema meta-schemas keep their http identity
    assert normalize_url("http://json-schema.org/draft-07/schema#") == "http://json-schema.org/draft-07/schema"


def test_unknown_extension_is_schema_not_found_naming_url_and_derived_path(registry: SchemaRegistry) -> None:
    url = "https://stac-extensions.github.io/made-up/v9.9.9/schema.json"
    with pytest.raises(SchemaNotFound) as info:
        registry.get(url)
    err = info.value
    assert url in err.message
    assert "not in the mirror or the cache" in err.message
    assert "stac-extensions/made-up/v9.9.9/json-schema/schema.json" in (err.hint or "")


def test_unknown_host_hint_says_how_to_add(registry: SchemaRegistry) -> None:
    with pytest.raises(SchemaNotFound) as info:
        registry.get("https://example.org/schemas/thing.json")
    assert "catalog-bot schemas add" in (info.value.hint or "")


def test_without_mirror_hint_names_the_env_variable(tmp_path: Path) -> None:
    registry = SchemaRegistry(None, None)
    with pytest.raises(SchemaNotFound) as info:
        registry.get(stac_core_url("1.1.0", "item"))
    assert "CATALOG_BOT_SCHEMAS" in (info.value.hint or "")


def test_metaschemas_resolve_without_a_mirror() -> None:
    registry = SchemaRegistry(None, None)
    assert registry.get("http://json-schema.org/draft-07/schema#")["title"] == "Core schema meta-schema"


def test_add_to_cache_then_resolves_and_validates(tmp_path: Path) -> None:
    registry = SchemaRegistry(None, tmp_path / "cache")
    url = "https://example.org/schemas/thing.json"
    schema = tmp_path / "thing.json"
    schema.write_text(json.dumps({"type": "object", "required": ["a"]}))
    assert not registry.has(url)
    dest = registry.add(url, schema)
    assert dest.is_file() and dest.parent == tmp_path / "cache"
    assert registry.has(url)
    assert [e.message for e in registry.validator(url).iter_errors({})] == ["'a' is a required property"]
    # a fresh registry over the same cache finds it too (it is on disk, not in memory)
    assert SchemaRegistry(None, tmp_path / "cache").has(url)


def test_add_rejects_a_file_that_is_not_json(tmp_path: Path) -> None:
    registry = SchemaRegistry(None, tmp_path / "cache")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(SchemaNotFound, match="not valid JSON"):
        registry.add("https://example.org/x.json", bad)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_validators_are_built_once(registry: SchemaRegistry) -> None:
    url = stac_core_url("1.1.0", "collection")
    assert registry.validator(url) is registry.validator(url + "#")


def test_stac_110_common_json_id_typo_is_handled(registry: SchemaRegistry, schemas_dir: Path) -> None:
    """common.json declares $id '.../commonjson'; item.json refs 'common.json': both must work."""
    item = json.loads((schemas_dir / "stac-extensions/datacube/v2.3.0/examples/item.json").read_text())
    validator = registry.validator(stac_core_url("1.1.0", "item"))
    assert list(validator.iter_errors(item)) == []
    item["properties"]["license"] = 42  # defined in licensing.json, reached through common.json
    messages = [e.message for e in validator.iter_errors(item)]
    assert messages, "an error deep in common.json must be found"


def test_raw_github_head_resolves_to_the_newest_mirrored_version(registry: SchemaRegistry) -> None:
    url = "https://raw.githubusercontent.com/argoproj/argo-workflows/HEAD/api/jsonschema/schema.json"
    path = registry.mirror_path(url)
    assert path is not None and path.is_file()
    assert path.parts[-4].startswith("argo-workflows-v")
    branch = "https://raw.githubusercontent.com/geopython/pygeoapi/refs/heads/master/pygeoapi/resources/schemas/config/pygeoapi-config-0.x.yml"
    assert derive_mirror_path(branch) == "pygeoapi-master/pygeoapi/resources/schemas/config/pygeoapi-config-0.x.yml"
    assert registry.get(branch)["$schema"].startswith("https://json-schema.org/draft/2020-12")


def test_extension_prefixes_come_from_the_schema(registry: SchemaRegistry) -> None:
    assert registry.extension_prefixes("https://stac-extensions.github.io/scientific/v1.0.0/schema.json") == {"sci"}
    assert registry.extension_prefixes("https://stac-extensions.github.io/datacube/v2.2.0/schema.json") == {"cube"}
    assert registry.extension_prefixes("https://stac-extensions.github.io/version/v1.0.0/schema.json") == frozenset()


def test_no_network_is_ever_used(registry: SchemaRegistry, schemas_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    doc = json.loads((schemas_dir / "stac-extensions/table/v1.2.0/examples/collection.json").read_text())
    assert list(registry.validator(stac_core_url("1.0.0", "collection")).iter_errors(doc)) == []
    for ext in doc["stac_extensions"]:
        assert list(registry.validator(ext).iter_errors(doc)) == []
