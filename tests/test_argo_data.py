"""Argo steps pass references, not data: one publish through the rendered template, pods run for real.

The Argo test server runs every step of the rendered WorkflowTemplate as the
real ``catalog-bot step`` process (tests/argo_pods.py), with artifacts packed
and unpacked the way an artifact repository would, against the real S3 server
behind a byte meter.  Measured: the artifact bytes every pod unpacks plus the
object-store bytes read by every step after the source reads (plan-sources,
convert-file), against the size of the converted data.  Before references each of the 13 downstream steps unpacked
the whole converted data (~13x); the target is <= 1.2x.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.pipeline.dag import PUBLISH
from tests.argo_publish import ArgoWorld, Transfer, argo_world  # noqa: F401  (argo_world: a fixture)
from tests.conftest import EXAMPLE
from tests.services import DevServices

pytestmark = pytest.mark.services


@pytest.fixture
def world(argo_world: ArgoWorld) -> ArgoWorld:  # noqa: F811
    return argo_world


FANNED = ["plan-sources", "convert-file", *PUBLISH.names()]


def _ran(transfer: Transfer) -> list[str]:
    assert transfer.phase == "Succeeded", "\n".join(r.output[-1500:] for r in transfer.records if r.returncode)
    return [r.task for r in transfer.records]


def test_a_publish_moves_about_the_data_once_between_steps(world: ArgoWorld, dev_services: DevServices) -> None:
    catalog, sha = world.catalog(EXAMPLE, rows=(60, 730))  # 60 loggers x 2 years, 6-hourly: ~175k rows
    first = world.publish(catalog, sha, "reef-temperature")
    assert _ran(first) == FANNED  # a single file: one convert-file task converts it whole
    print(f"\n{first.table()}\nmoved {first.moved} bytes for {first.data_bytes} converted: {first.ratio:.3f}x")
    assert first.data_bytes > 300_000
    # Every downstream pod gets only small metadata as artifacts: never the data.
    assert max(r.artifact_bytes_in for r in first.records) < first.data_bytes / 10
    assert first.ratio <= 1.2
    # The metadata steps read footers by range, not the file; the upload step copies server-side.
    by_task = {r.task: r for r in first.records}
    for task in ("check-extents", "generate-datadriven-metadata"):
        assert 0 < by_task[task].store_get_bytes < first.data_bytes / 4
    assert by_task["upload-arco-data"].store_get_bytes < 10_000  # listings and HEADs, no data
    assert by_task["convert"].store_get_bytes < 2_000  # a whole source: the combine reads the part's record only
    # The data is published under its version, byte-identical to the work key the convert step made.
    s3 = dev_services.s3_client()
    ref = first.convert["ref"]
    version = f"{world.prefix}/reef-temperature/{first.convert['sha256'][:16]}/{first.convert['file']}"
    work = s3.get_object(Bucket="catalog-public", Key=f"{world.prefix}/{ref['key']}")["Body"].read()
    published = s3.get_object(Bucket="catalog-public", Key=version)["Body"].read()
    assert published == work and len(published) == first.data_bytes
    # Idempotent: the same data again is not re-uploaded to its content-addressed key.
    again = world.publish(catalog, sha, "reef-temperature")
    _ran(again)
    assert again.convert["ref"]["key"] == ref["key"] and again.convert["ref"]["bytes_uploaded"] == 0
    assert ref["bytes_uploaded"] == first.data_bytes


def test_a_zarr_publish_reads_only_metadata_and_coordinates(world: ArgoWorld) -> None:
    catalog, sha = world.catalog(EXAMPLE)
    transfer = world.publish(catalog, sha, "sea-surface-temperature")
    assert _ran(transfer) == FANNED
    by_task = {r.task: r for r in transfer.records}
    print(f"\n{transfer.table()}\nmoved {transfer.moved} bytes for {transfer.data_bytes}: {transfer.ratio:.3f}x")
    # check-extents builds a sparse view (metadata + 1-D coordinates): a small part of the store.
    assert 0 < by_task["check-extents"].store_get_bytes < transfer.data_bytes / 5
    assert max(r.artifact_bytes_in for r in transfer.records) < transfer.data_bytes / 5


# ---- many files: one convert-file pod per file, then the combine -----------------------------


def _split_sources(catalog: Path) -> None:
    """The reef logger CSV by site and the SST grid by month, as such data is delivered."""
    from tests.test_sources_many import _set_source, split_csv, split_netcdf

    reef = catalog / "datasets" / "reef-temperature" / "data"
    split_csv(reef / "reef-temperature.csv", reef / "sites")
    (reef / "reef-temperature.csv").unlink()
    _set_source(catalog, "reef-temperature", path="data/sites/*.csv")
    sst = catalog / "datasets" / "sea-surface-temperature" / "data"
    split_netcdf(sst / "sea-surface-temperature.nc", sst / "months")
    (sst / "sea-surface-temperature.nc").unlink()
    _set_source(catalog, "sea-surface-temperature", paths=["data/months/*.nc"])


def _local_convert(catalog: Path, output: Path, dataset: str, jobs: int) -> dict:
    import json

    from bot.cli import main
    from bot.pipeline.executor import work_dir

    with pytest.raises(SystemExit) as info:
        main(
            [
                "publish",
                "--catalog",
                str(catalog),
                "--output",
                str(output),
                "--env",
                "local",
                "--jobs",
                str(jobs),
                dataset,
            ]
        )
    assert info.value.code in (0, None)
    return json.loads((work_dir(output.resolve(), dataset) / "convert" / "result.json").read_text())


@pytest.mark.parametrize(("dataset", "pattern"), [("reef-temperature", "*.csv"), ("sea-surface-temperature", "*.nc")])
def test_many_files_fan_out_and_combine_to_the_local_output(
    world: ArgoWorld, tmp_path: Path, dataset: str, pattern: str
) -> None:
    catalog, sha = world.catalog(EXAMPLE, prepare=_split_sources)
    files = sorted((catalog / "datasets" / dataset / "data").rglob(pattern))
    assert len(files) >= 5
    transfer = world.publish(catalog, sha, dataset)
    ran = _ran(transfer)
    assert ran == ["plan-sources", *["convert-file"] * len(files), *PUBLISH.names()]
    nodes = [r.node for r in transfer.records if r.task == "convert-file"]
    assert nodes == [f"convert-file({i}:{i})" for i in range(len(files))]  # one pod per planned file
    # The combine got every part: one provenance record per source file, in the planned order.
    assert [s["uri"] for s in transfer.convert["sources"]] == [
        p.relative_to(catalog / "datasets" / dataset).as_posix() for p in files
    ]
    # Output identical to the local engine's with 1 and with 2 workers.
    for jobs in (1, 2):
        local = _local_convert(catalog, tmp_path / f"local-{jobs}", dataset, jobs)
        assert (local["sha256"], local["bytes"], local["rows"]) == (
            transfer.convert["sha256"],
            transfer.convert["bytes"],
            transfer.convert["rows"],
        )
    print(f"\n{transfer.table()}\nmoved {transfer.moved} bytes for {transfer.data_bytes}: {transfer.ratio:.3f}x")


def test_a_missing_part_fails_the_combine_naming_it(world: ArgoWorld) -> None:
    catalog, sha = world.catalog(EXAMPLE, prepare=_split_sources)
    runner = world.server.state.pods
    assert runner is not None
    original = runner._pod

    def lose_part_two(state, wf, task, template, node, item, *rest):  # type: ignore[no-untyped-def]
        if task["name"] == "convert-file" and item == "2":
            from tests.argo_pods import PodRecord

            return PodRecord("convert-file", node, 0, "pretend success, no part written")
        return original(state, wf, task, template, node, item, *rest)

    runner._pod = lose_part_two  # type: ignore[method-assign]
    transfer = world.publish(catalog, sha, "reef-temperature")
    assert transfer.phase == "Failed"
    failed = [r for r in transfer.records if r.returncode]
    assert [r.task for r in failed] == ["convert"]
    assert "1 of" in failed[0].output and "part(s) of plan" in failed[0].output and "reef-" in failed[0].output


# ---- the object-store operations references rely on ------------------------------------------


def _tree(root: Path) -> Path:
    store = root / "x.zarr"
    (store / "sst").mkdir(parents=True)
    (store / ".zgroup").write_text('{"zarr_format": 2}')
    (store / "sst" / ".zarray").write_text('{"chunks": [2]}')
    (store / "sst" / "0.0").write_bytes(bytes(range(256)) * 64)
    return store


def test_s3_copy_tree_is_server_side_and_idempotent(tmp_path: Path, dev_services: DevServices) -> None:
    from bot.adapters.s3store import S3ObjectStore
    from bot.errors import ServiceError
    from tests.argo_pods import S3Meter
    from tests.services import unique

    with S3Meter(dev_services.s3_url) as meter:
        store = S3ObjectStore(dev_services.s3_client(endpoint=meter.url), "catalog-public", prefix=unique("copy"))
        store.put_tree("work/ds/abc/x.zarr", _tree(tmp_path))
        before = meter.get_bytes
        copied = store.copy_tree("work/ds/abc", "ds/v1")
        listing = meter.get_bytes - before
        assert sorted(r.key for r in copied) == [
            "ds/v1/x.zarr/.zgroup",
            "ds/v1/x.zarr/sst/.zarray",
            "ds/v1/x.zarr/sst/0.0",
        ]
        assert not any(r.skipped for r in copied) and listing < 4000  # one listing; no object body passed through
        assert store.get_bytes("ds/v1/x.zarr/sst/0.0") == bytes(range(256)) * 64
        info = store.head("ds/v1/x.zarr/sst/0.0")
        assert info is not None and info.sha256 == copied[-1].sha256  # checksum metadata travels with the copy
        assert all(r.skipped for r in store.copy_tree("work/ds/abc", "ds/v1"))
        assert store.get_range("ds/v1/x.zarr/sst/0.0", 250, 10) == bytes([250, 251, 252, 253, 254, 255, 0, 1, 2, 3])
        assert store.get_range("ds/v1/x.zarr/sst/0.0", 16380, 100) == bytes([252, 253, 254, 255])
        with pytest.raises(ServiceError, match="nothing to copy"):
            store.copy_tree("work/ds/missing", "ds/v2")
        store.delete(store.list())


def test_local_copy_tree_and_range(tmp_path: Path) -> None:
    from bot.adapters.objectstore import LocalObjectStore

    store = LocalObjectStore(tmp_path / "bucket")
    store.put_tree("work/ds/abc/x.zarr", _tree(tmp_path))
    copied = store.copy_tree("work/ds/abc", "ds/v1")
    assert len(copied) == 3 and (tmp_path / "bucket" / "ds" / "v1" / "x.zarr" / "sst" / ".zarray").is_file()
    assert all(r.skipped for r in store.copy_tree("work/ds/abc", "ds/v1"))
    assert store.get_range("ds/v1/x.zarr/sst/0.0", 1, 3) == bytes([1, 2, 3])
