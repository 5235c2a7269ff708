"""pygeoapi resource entries: schema validation, files, assembly, and a real pygeoapi serving them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from bot.catalog.schemas import SchemaRegistry
from bot.errors import ConfigError, SchemaNotFound, ValidationFailed
from bot.metadata.pygeoapi import (
    assemble_config,
    build_resource,
    pygeoapi_schema_path,
    validate_config,
    validate_resource,
    write_resource,
)
from tests.conftest import EXAMPLE, REPO
from tests.stac_data import (
    parquet_meta,
    write_grid_zarr,
    write_points_parquet,
    write_polygons_parquet,
    zarr_meta,
)
from tests.test_stac_build import datapackage

HEADER = EXAMPLE / "pygeoapi" / "header.yaml"
VENV = REPO / ".venv-services" / "pygeoapi" / "bin"


@pytest.fixture
def schema(schemas_dir: Path, tmp_path: Path) -> Path:
    return pygeoapi_schema_path(SchemaRegistry(schemas_dir, tmp_path / "cache"))


def test_missing_schema_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(SchemaNotFound) as err:
        pygeoapi_schema_path(SchemaRegistry(tmp_path / "empty-mirror", None))
    assert "pygeoapi-0.23.4/pygeoapi/resources/schemas/config/pygeoapi-config-0.x.yml" in str(err.value)


def mpa_datapackage() -> dict:
    """The complete datapackage embeds the table schema (with its primary key)."""
    dp = datapackage("marine-protected-areas")
    dp["resources"][0]["schema"] = json.loads(
        (EXAMPLE / "datasets" / "marine-protected-areas" / "tableschema.json").read_text()
    )
    return dp


@pytest.fixture
def published(tmp_path: Path) -> dict[str, dict]:
    """Three datasets' files and resource entries, the way the publish step builds them."""
    data = tmp_path / "data"
    points = write_points_parquet(data / "reef-temperature.parquet")
    polygons = write_polygons_parquet(data / "marine-protected-areas.parquet")
    grid = write_grid_zarr(data / "sea-surface-temperature.zarr")
    return {
        "reef-temperature": build_resource(
            "reef-temperature",
            datapackage("reef-temperature"),
            parquet_meta(points),
            str(points),
            "parquet",
            item_href="https://stac.example.org/collections/reef-temperature/items/reef-temperature",
            datapackage_href="https://data.example.org/reef-temperature/datapackage.json",
        ),
        "marine-protected-areas": build_resource(
            "marine-protected-areas",
            mpa_datapackage(),
            parquet_meta(polygons, "geometry", "established"),
            str(polygons),
            "tabular",
            coordinates={"geometry": "geometry", "t": "established"},
        ),
        "sea-surface-temperature": build_resource(
            "sea-surface-temperature",
            datapackage("sea-surface-temperature"),
            zarr_meta(grid),
            str(grid) + "/",
            "zarr",
        ),
    }


def test_resources_validate_and_use_the_right_providers(published: dict[str, dict], schema: Path) -> None:
    for rid, resource in published.items():
        assert validate_resource(resource, schema) == [], rid
    points = published["reef-temperature"]["providers"][0]
    assert points["name"] == "Parquet" and points["type"] == "feature"
    assert points["data"]["source"].endswith("reef-temperature.parquet")
    assert (points["x_field"], points["y_field"], points["time_field"]) == ("lon", "lat", "time")
    polygons = published["marine-protected-areas"]["providers"][0]
    assert polygons["id_field"] == "mpa_id"  # from the table schema's primaryKey
    assert "x_field" not in polygons  # polygons: no point columns to filter on
    grid = published["sea-surface-temperature"]["providers"][0]
    assert grid["name"] == "xarray" and grid["type"] == "coverage"
    assert grid["data"].endswith(".zarr")  # trailing slash dropped: xarray picks open_zarr by suffix
    assert grid["format"] == {"name": "zarr", "mimetype": "application/zip"}
    assert (grid["x_field"], grid["y_field"], grid["time_field"]) == ("lon", "lat", "time")
    links = {link["rel"]: link["href"] for link in published["reef-temperature"]["links"]}
    assert links["alternate"].endswith("/items/reef-temperature")
    assert links["describedby"].endswith("datapackage.json")
    ext = published["sea-surface-temperature"]["extents"]
    assert ext["temporal"] == {"begin": "2024-01-16T00:00:00Z", "end": "2024-03-16T00:00:00Z"}


def test_invalid_resources_are_located_problems(published: dict[str, dict], schema: Path) -> None:
    resource = json.loads(json.dumps(published["reef-temperature"]))
    resource["extents"]["spatial"]["bbox"] = [1, 2]
    resource["providers"][0]["type"] = "vector"
    resource["providers"][0]["data"] = "reef.parquet"
    problems = validate_resource(resource, schema, file="pygeoapi/datasets/reef-temperature.yaml")
    pointers = sorted(p.pointer for p in problems)
    assert pointers == ["/extents/spatial/bbox", "/providers/0/data", "/providers/0/type"]
    assert all(p.file == "pygeoapi/datasets/reef-temperature.yaml" for p in problems)
    grid = json.loads(json.dumps(published["sea-surface-temperature"]))
    grid["providers"][0]["data"] = "s3://bucket/sst"
    assert [p.code for p in validate_resource(grid, schema)] == ["pygeoapi-provider"]


def test_assemble_sorts_by_id_validates_and_is_idempotent(
    published: dict[str, dict], schema: Path, tmp_path: Path
) -> None:
    datasets = tmp_path / "pygeoapi" / "datasets"
    for rid, resource in published.items():
        write_resource(datasets, rid, resource)
    out = tmp_path / "pygeoapi" / "config-pygeoapi.yaml"
    assemble_config(HEADER, datasets, out, schema_path=schema)
    config = yaml.safe_load(out.read_text())
    assert list(config["resources"]) == sorted(published)
    assert config["server"]["admin"] is False
    assert validate_config(config, schema) == []
    # Round trip: what pygeoapi will read is what we built (times become YAML timestamps).
    begin = config["resources"]["reef-temperature"]["extents"]["temporal"]["begin"]
    assert begin.isoformat() == published["reef-temperature"]["extents"]["temporal"]["begin"].replace("Z", "+00:00")
    before = (out.read_bytes(), out.stat().st_mtime_ns)
    for rid, resource in published.items():
        write_resource(datasets, rid, resource)
    assemble_config(HEADER, datasets, out, schema_path=schema)
    assert (out.read_bytes(), out.stat().st_mtime_ns) == before


def test_bad_resource_file_or_header_writes_nothing(published: dict[str, dict], schema: Path, tmp_path: Path) -> None:
    datasets = tmp_path / "datasets"
    broken = dict(published["reef-temperature"])
    broken.pop("extents")
    write_resource(datasets, "reef-temperature", broken)
    out = tmp_path / "config-pygeoapi.yaml"
    with pytest.raises(ValidationFailed) as err:
        assemble_config(HEADER, datasets, out, schema_path=schema)
    problem = err.value.problems[0]
    assert (
        problem.file == str(datasets / "reef-temperature.yaml")
        and "'extents' is a required property" in problem.message
    )
    assert not out.exists()
    (datasets / "reef-temperature.yaml").write_text("type: collection\ntitle: [unclosed\n")
    with pytest.raises(ConfigError) as bad_yaml:
        assemble_config(HEADER, datasets, out, schema_path=schema)
    assert bad_yaml.value.file == str(datasets / "reef-temperature.yaml") and bad_yaml.value.line is not None
    assert not out.exists()
    header = tmp_path / "header.yaml"
    header.write_text(HEADER.read_text().replace("resources: {}", "resources:\n  x: {type: collection}"))
    with pytest.raises(ConfigError, match="must not list resources"):
        assemble_config(header, tmp_path / "empty", out, schema_path=schema)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing_pygeoapi(reason: str) -> None:
    """Skip locally; under CI (``CI=true``) a missing server is a failure, never a silent skip."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (scripts/test.sh installs it)")
    pytest.skip(reason)


@pytest.fixture
def pygeoapi_server(published: dict[str, dict], schema: Path, tmp_path: Path) -> Iterator[str]:
    """A real pygeoapi (gunicorn, loopback, free port) serving the assembled config."""
    if not (VENV / "pygeoapi").exists() or not (VENV / "gunicorn").exists():
        _missing_pygeoapi(
            f"pygeoapi venv missing at {VENV.parent}: python -m venv it and pip install pygeoapi gunicorn"
        )
    datasets = tmp_path / "pygeoapi" / "datasets"
    for rid, resource in published.items():
        write_resource(datasets, rid, resource)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cfg = tmp_path / "pygeoapi" / "config-pygeoapi.yaml"
    assemble_config(
        HEADER,
        datasets,
        cfg,
        schema_path=schema,
        overrides={"server": {"bind": {"host": "127.0.0.1", "port": port}, "url": url}},
    )
    yield from serve_config(cfg, tmp_path, port)


def serve_config(cfg: Path, tmp_path: Path, port: int) -> Iterator[str]:
    """Validate ``cfg`` with pygeoapi itself, generate its OpenAPI, serve it with gunicorn; yield the URL."""
    url = f"http://127.0.0.1:{port}"
    check = subprocess.run([VENV / "pygeoapi", "config", "validate", "-c", cfg], capture_output=True, text=True)
    assert check.returncode == 0 and "Valid configuration" in check.stdout, check.stdout + check.stderr
    openapi = tmp_path / "openapi.yaml"
    env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(openapi)}
    gen = subprocess.run(
        [VENV / "pygeoapi", "openapi", "generate", cfg, "--output-file", openapi], env=env, capture_output=True
    )
    assert gen.returncode == 0, gen.stderr
    log = (tmp_path / "gunicorn.log").open("w")
    proc = subprocess.Popen(
        [VENV / "gunicorn", "-w", "1", "--no-control-socket", "-b", f"127.0.0.1:{port}", "pygeoapi.flask_app:APP"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                if httpx.get(f"{url}/?f=json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "pygeoapi did not become ready in 60 s"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.mark.slow
@pytest.mark.services  # a real pygeoapi from .venv-services (no fixture says so)
def test_pygeoapi_serves_the_config_that_catalog_bot_publish_wrote(published_example: Path, tmp_path: Path) -> None:
    """The README's main job, then a real pygeoapi on its output: items per tabular dataset, the grid's coverage."""
    if not (VENV / "pygeoapi").exists() or not (VENV / "gunicorn").exists():
        _missing_pygeoapi(f"pygeoapi venv missing at {VENV.parent}")
    cfg = published_example / "pygeoapi" / "config-pygeoapi.yaml"
    for url in serve_config(cfg, tmp_path, _free_port()):
        with httpx.Client(base_url=url, timeout=30) as client:
            for tabular, rows in (("reef-temperature", 1820), ("marine-protected-areas", 6)):
                seen, offset = 0, 0
                while True:  # page through (pygeoapi caps a page at 1,000 items)
                    got = client.get(
                        f"/collections/{tabular}/items", params={"f": "json", "limit": 500, "offset": offset}
                    )
                    assert got.status_code == 200, got.text
                    page = len(got.json()["features"])
                    seen, offset = seen + page, offset + 500
                    if page < 500:
                        break
                assert seen == rows
            coverage = client.get("/collections/sea-surface-temperature/coverage", params={"f": "json"})
            assert coverage.status_code == 200, coverage.text[:500]
            assert coverage.json()["type"] == "Coverage"


@pytest.mark.slow
def test_real_pygeoapi_serves_features_and_coverage(pygeoapi_server: str, tmp_path: Path) -> None:
    url = pygeoapi_server
    with httpx.Client(base_url=url, timeout=30) as client:
        ids = {c["id"] for c in client.get("/collections", params={"f": "json"}).json()["collections"]}
        assert ids == {"reef-temperature", "marine-protected-areas", "sea-surface-temperature"}

        items = client.get("/collections/reef-temperature/items", params={"f": "json", "limit": 100}).json()
        assert len(items["features"]) == 40
        first = items["features"][0]
        assert first["geometry"]["type"] == "Point"
        assert first["geometry"]["coordinates"] == [first["properties"]["lon"], first["properties"]["lat"]]

        # bbox (x_field/y_field) and datetime (time_field + configured extents) filters work.
        day = client.get(
            "/collections/reef-temperature/items",
            params={"f": "json", "bbox": "140,-30,160,-10", "datetime": "2024-01-01T00:00:00Z/2024-01-02T00:00:00Z"},
        )
        assert day.status_code == 200, day.text
        times = sorted(f["properties"]["time"] for f in day.json()["features"])
        assert len(times) == 5 and times[0].startswith("2024-01-01T00:00") and times[-1].startswith("2024-01-02T00:00")

        polygons = client.get("/collections/marine-protected-areas/items", params={"f": "json"}).json()
        assert sorted(f["properties"]["mpa_id"] for f in polygons["features"]) == ["MPA-1", "MPA-2", "MPA-3"]
        assert {f["geometry"]["type"] for f in polygons["features"]} == {"Polygon"}

        coverage = client.get("/collections/sea-surface-temperature/coverage", params={"f": "json"})
        assert coverage.status_code == 200, coverage.text
        body = coverage.json()
        assert body["type"] == "Coverage"
        assert body["domain"]["axes"]["x"]["num"] == 8 and body["domain"]["axes"]["y"]["num"] == 6
        assert len(body["domain"]["axes"]["t"]["values"]) == 3
        assert "sst" in body["ranges"]
