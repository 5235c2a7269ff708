"""Schemas missing from the mirror are downloaded from known schema hosts into the cache, once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bot.adapters.schema_fetch import fetch_schema
from bot.catalog.schemas import SchemaRegistry
from bot.config import Settings
from bot.errors import SchemaNotFound

EXT = "https://stac-extensions.github.io/example-ext/v1.0.0/schema.json"
SCHEMA = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": ["ex:field"]}


def _client(calls: list[str], status: int = 200) -> httpx.Client:
    """A real httpx client whose transport answers like the schema host (no internet here)."""

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(status, content=json.dumps(SCHEMA).encode())

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_missing_schema_is_downloaded_once_into_the_cache(tmp_path: Path, schemas_dir: Path) -> None:
    calls: list[str] = []
    client = _client(calls)
    registry = SchemaRegistry(schemas_dir, tmp_path / "cache", lambda url: fetch_schema(url, client=client))
    assert registry.get(EXT)["required"] == ["ex:field"]
    assert registry.get(EXT) == SCHEMA and calls == [EXT]
    # a new registry (next run) reads the cache: no second download
    again = SchemaRegistry(schemas_dir, tmp_path / "cache", lambda url: fetch_schema(url, client=_client(calls)))
    assert again.get(EXT) == SCHEMA and calls == [EXT]
    assert not registry.validator(EXT).is_valid({})


def test_unknown_hosts_are_never_fetched(tmp_path: Path) -> None:
    calls: list[str] = []
    client = _client(calls)
    registry = SchemaRegistry(None, tmp_path / "cache", lambda url: fetch_schema(url, client=client))
    with pytest.raises(SchemaNotFound, match="not in the mirror"):
        registry.get("https://evil.example.org/schema.json")
    assert calls == []


def test_failed_download_is_a_clear_error(tmp_path: Path) -> None:
    calls: list[str] = []
    client = _client(calls, status=404)
    registry = SchemaRegistry(None, tmp_path / "cache", lambda url: fetch_schema(url, client=client))
    with pytest.raises(SchemaNotFound) as info:
        registry.get(EXT)
    assert "download failed" in str(info.value) and "404" in str(info.value)


def test_downloads_can_be_turned_off() -> None:
    assert Settings.from_env({"CATALOG_BOT_SCHEMA_FETCH": "0"}).schema_fetch is False
    assert Settings.from_env({}).schema_fetch is True
