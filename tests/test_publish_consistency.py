"""One publish per dataset at a time, older commits never win, half-moved datasets repaired, gc.

The lease and the concurrent publishes run against the real SeaweedFS of
the dev services (its conditional PUTs are what make the lock work); the
ordering and repair rules run on the local folder store with a real git
repository.  The only injected fault is a STAC ingest that fails once (the
"STAC API down" of issue #10 item 6).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.adapters.lease import LeaseLost, LockBusy, acquire, lock_key
from bot.adapters.objectstore import LocalObjectStore
from bot.adapters.s3store import S3ObjectStore
from bot.catalog.layout import Catalog
from bot.cli import main
from bot.config import Settings
from bot.errors import ServiceError
from bot.pipeline.context import RunContext
from bot.pipeline.executor import PublishReport, publish
from bot.pipeline.guard import read_record
from tests.conftest import git

from .test_objectstore import s3_client, s3_endpoint  # noqa: F401  (fixtures: a real S3 server on 127.0.0.1)

DS = "reef-temperature"
CSV = Path("datasets") / DS / "data" / "reef-temperature.csv"


def _publish(catalog: Path, output: Path, *, store=None, commit: str | None = None) -> PublishReport:
    cat = Catalog.open(catalog)
    factory = (lambda access: store) if store is not None else None
    provenance = {"commit": commit} if commit else {}
    run = RunContext(
        cat, "local", cat.config.environment("local"), output, Settings.from_env(), factory, provenance=provenance
    )
    return publish(run, [cat.dataset(DS)])


def _edit_data(catalog: Path, value: str) -> None:
    """A new data version with the same schema: change one depth cell."""
    path = catalog / CSV
    lines = path.read_text().splitlines()
    cells = lines[1].split(",")
    cells[4] = value
    path.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")


def _current_version(store, dataset: str = DS) -> str:
    package = json.loads(store.get_bytes(f"{dataset}/datapackage.json"))
    return package["resources"][0]["path"].split("/")[0]


# --------------------------------------------------------------------------- the lease on real S3


def test_sixteen_racing_acquirers_one_wins_on_seaweedfs(s3_client) -> None:  # noqa: F811
    store = S3ObjectStore(s3_client, s3_client.bucket_name, prefix="locks")

    def take(i: int) -> bool:
        try:
            acquire(store, DS, owner=f"runner-{i}", wait=0, heartbeat=False, sleep=lambda s: None)
        except LockBusy:
            return False
        return True

    with ThreadPoolExecutor(16) as pool:
        wins = list(pool.map(take, range(16)))
    assert wins.count(True) == 1
    holder = json.loads(store.get_bytes(lock_key(DS)))["owner"]
    with pytest.raises(LockBusy, match=holder):
        acquire(store, DS, wait=0, heartbeat=False)


def test_expired_lease_is_taken_over_and_the_old_holder_learns_it(s3_client) -> None:  # noqa: F811
    store = S3ObjectStore(s3_client, s3_client.bucket_name, prefix="locks")
    now = [1000.0]
    stale = acquire(store, DS, owner="crashed-job", ttl=10, heartbeat=False, clock=lambda: now[0])
    now[0] += 11  # the holder stalled past its lease
    fresh = acquire(store, DS, owner="next-job", ttl=10, heartbeat=False, clock=lambda: now[0], wait=0)
    with pytest.raises(LeaseLost, match="taken over"):
        stale.check()
    stale.release()  # not ours any more: must not delete the new holder's lock
    assert json.loads(store.get_bytes(lock_key(DS)))["owner"] == "next-job"
    fresh.release()
    assert store.get_versioned(lock_key(DS)) is None


def test_two_concurrent_publishes_of_one_dataset_serialise(
    example_catalog: Path,
    tmp_path: Path,
    s3_client,  # noqa: F811
) -> None:
    """Two runs (different machines: own outputs, own catalog copies, other data) on one S3 store."""
    import shutil

    store = S3ObjectStore(s3_client, s3_client.bucket_name, prefix="catalog")
    second = tmp_path / "catalog-2"
    shutil.copytree(example_catalog, second)
    _edit_data(second, "7.5")
    start = threading.Barrier(2)
    holding: list[tuple[str, str]] = []
    lock = threading.Lock()
    original_put_if = store.put_if

    def spying_put_if(key: str, data: bytes, *, tag: str | None) -> bool:
        won = original_put_if(key, data, tag=tag)
        if won and key.endswith("published.json"):
            with lock:
                holding.append((json.loads(data)["owner"], json.loads(data)["state"]))
        return won

    store.put_if = spying_put_if  # type: ignore[method-assign]

    def run(catalog: Path, name: str) -> PublishReport:
        start.wait()
        return _publish(catalog, tmp_path / f"out-{name}", store=store)

    with ThreadPoolExecutor(2) as pool:
        first_f = pool.submit(run, example_catalog, "a")
        second_f = pool.submit(run, second, "b")
        reports = [first_f.result(timeout=300), second_f.result(timeout=300)]
    outcomes = [r.outcomes[0] for r in reports]
    assert [o.status for o in outcomes] == ["published", "published"], [str(o.error) for o in outcomes]
    # Serialised: each run's moving .. current pair is not interleaved with the other's.
    owners = [owner for owner, _ in holding]
    assert [state for _, state in holding] == ["moving", "current", "moving", "current"]
    assert owners[0] == owners[1] and owners[2] == owners[3] and owners[0] != owners[2]
    assert max(o.metrics["lock_wait"] for o in outcomes) > 0  # one of them waited for the other
    # One version is current, its data is there, and the record says so.
    version = _current_version(store)
    package = json.loads(store.get_bytes(f"{DS}/datapackage.json"))
    assert store.head(f"{DS}/{package['resources'][0]['path']}") is not None
    record = read_record(store, DS)
    assert record is not None and record["state"] == "current" and record["owner"] == owners[-1]
    assert len(version) == 16
    assert store.get_versioned(lock_key(DS)) is None  # released


def test_killed_upload_is_swept_by_gc_after_the_grace_period(
    example_catalog: Path,
    tmp_path: Path,
    s3_client,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A publish killed mid-upload leaves a version nothing references; gc removes it, keeps the current one."""
    import yaml

    bucket = s3_client.bucket_name
    config_path = example_catalog / "catalog-bot.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["environments"]["s3test"] = {
        "engine": "local",
        "object_store": {
            "kind": "s3",
            "endpoint_url": s3_client.meta.endpoint_url,
            "region": "us-east-1",
            "public_bucket": bucket,
            "limited_bucket": bucket,
            "prefix": "cat",
        },
    }
    config_path.write_text(yaml.safe_dump(config))
    store = S3ObjectStore(s3_client, bucket, prefix="cat")
    assert not _publish(example_catalog, tmp_path / "out", store=store).failed
    current = _current_version(store)
    # The killed upload: some objects of a new version, no metadata pointing at them.
    killed = "0123456789abcdef"
    for i in range(5):
        part = tmp_path / f"part-{i}"
        part.write_bytes(b"x" * (1000 + i))
        store.put_file(f"{DS}/{killed}/{DS}.zarr/c/{i}", part)
    args = ["gc", "-C", str(example_catalog), "--env", "s3test", "--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as done:
        main([*args, "--grace", "1h"])
    assert done.value.code == 0
    assert f"kept (younger than 1h) {killed}" in capsys.readouterr().out
    assert len(store.list(f"{DS}/{killed}")) == 5
    with pytest.raises(SystemExit) as done:
        main([*args, "--grace", "0s"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert f"removed {killed} (5 objects)" in out
    assert store.list(f"{DS}/{killed}") == []
    assert _current_version(store) == current and store.list(f"{DS}/{current}")


# --------------------------------------------------------------------------- ordering and repair (local store)


def test_an_older_commit_never_overwrites_a_newer_one(example_catalog: Path, tmp_path: Path) -> None:
    git(example_catalog, "init", "-q", "-b", "main")
    git(example_catalog, "add", "-A")
    git(example_catalog, "commit", "-qm", "c1")
    old = git(example_catalog, "rev-parse", "HEAD").strip()
    _edit_data(example_catalog, "9.25")
    git(example_catalog, "commit", "-qam", "c2")
    new = git(example_catalog, "rev-parse", "HEAD").strip()
    output = tmp_path / "out"
    store = LocalObjectStore(output / "data" / "catalog-public")
    assert _publish(example_catalog, output, commit=new).outcomes[0].status == "published"
    published = _current_version(store)
    git(example_catalog, "checkout", "-q", old)  # the slow job of the older merge finishes last
    late = _publish(example_catalog, output, commit=old).outcomes[0]
    assert late.status == "superseded"
    assert all(s.status == "skipped" and new[:12] in s.message for s in late.steps)
    assert _current_version(store) == published
    record = read_record(store, DS)
    assert record is not None and record["commit"] == new and record["state"] == "current"


def test_half_moved_dataset_is_repaired_by_the_next_run(
    example_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.pipeline.steps as steps

    output = tmp_path / "out"
    store = LocalObjectStore(output / "data" / "catalog-public")
    assert not _publish(example_catalog, output).failed
    _edit_data(example_catalog, "3.75")

    def stac_down(ctx):  # the STAC API is down after datapackage and pygeoapi moved
        raise ServiceError("stac-api", "503 Service Unavailable", url="http://127.0.0.1:8082/collections")

    monkeypatch.setattr(steps, "ingest_stac_item", stac_down)
    broken = _publish(example_catalog, output).outcomes[0]
    assert broken.status == "failed"
    assert read_record(store, DS)["state"] == "moving"  # type: ignore[index]
    moved = _current_version(store)
    item_path = output / "stac" / DS / DS / f"{DS}.json"
    assert moved not in json.loads(item_path.read_text())["assets"]["data"]["href"]  # STAC still on the old one

    monkeypatch.undo()
    repaired = _publish(example_catalog, output).outcomes[0]
    assert repaired.status == "published" and repaired.metrics.get("repaired") is True
    ran = {s.step for s in repaired.steps if s.status == "done"}
    assert {"upload-frictionless-json", "ingest-pygeoapi-entry", "ingest-stac-item", "update-collection"} <= ran
    assert "convert" not in ran  # nothing else redone
    assert moved in json.loads(item_path.read_text())["assets"]["data"]["href"]
    assert read_record(store, DS)["state"] == "current"  # type: ignore[index]
    # And a run after that is a no-change run again.
    assert _publish(example_catalog, output).outcomes[0].status == "unchanged"
