"""Object stores: the local folder store and the S3 store against a real S3 server on 127.0.0.1.

The S3 server is the real SeaweedFS of the dev services (real sockets,
real auth, real multipart), started once per test session.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bot.adapters.objectstore import (
    LocalObjectStore,
    PutResult,
    tree_sha256,
)
from bot.adapters.s3store import S3ObjectStore, make_transfer_config
from bot.errors import ServiceError, UsageError


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


class FailingLocalStore(LocalObjectStore):
    """Fails on the Nth object of a tree, like a disk filling up mid-upload."""

    def __init__(self, root: Path, fail_at: int) -> None:
        super().__init__(root)
        self.fail_at = fail_at
        self.count = 0

    def _stage_one(self, staging: Path, prefix: str, rel: str, path: Path) -> PutResult:
        self.count += 1
        if self.count == self.fail_at:
            raise ServiceError("local", "simulated failure", url=str(path))
        return super()._stage_one(staging, prefix, rel, path)


def test_local_put_file_skips_identical_content(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    src = tmp_path / "a.json"
    src.write_text('{"a": 1}')
    first = store.put_file("ds/a.json", src)
    assert not first.skipped
    assert first.sha256 == hashlib.sha256(b'{"a": 1}').hexdigest()
    mtime = (tmp_path / "store" / "ds" / "a.json").stat().st_mtime_ns
    assert store.put_file("ds/a.json", src).skipped
    assert (tmp_path / "store" / "ds" / "a.json").stat().st_mtime_ns == mtime
    src.write_text('{"a": 2}')
    assert not store.put_file("ds/a.json", src).skipped
    assert store.get_bytes("ds/a.json") == b'{"a": 2}'
    assert store.list() == ["ds/a.json"]
    info = store.head("ds/a.json")
    assert info is not None and info.size == 8
    assert store.head("ds/missing.json") is None


def test_local_put_tree_is_all_or_nothing(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src.zarr", {f"v/{i}": bytes([i]) * 10 for i in range(5)})
    store = FailingLocalStore(tmp_path / "store", fail_at=3)
    with pytest.raises(ServiceError, match="simulated failure"):
        store.put_tree("ds/v1/src.zarr", src)
    assert not (tmp_path / "store" / "ds" / "v1").exists()
    assert store.list() == []  # no staging leftovers visible
    assert not [p for p in (tmp_path / "store").iterdir() if p.name.startswith(".tmp-")]
    store.fail_at = 0
    results = store.put_tree("ds/v1/src.zarr", src)
    assert len(results) == 5 and not any(r.skipped for r in results)
    assert store.list("ds") == [f"ds/v1/src.zarr/v/{i}" for i in range(5)]
    again = store.put_tree("ds/v1/src.zarr", src)
    assert all(r.skipped for r in again)


def test_local_put_tree_replaces_a_different_tree_whole(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    store.put_tree("ds/x", _tree(tmp_path / "a", {"1": b"old", "2": b"old"}))
    store.put_tree("ds/x", _tree(tmp_path / "b", {"1": b"new"}))
    assert store.list("ds") == ["ds/x/1"]
    assert store.get_bytes("ds/x/1") == b"new"


def test_single_file_tree_and_tree_hash(tmp_path: Path) -> None:
    f = tmp_path / "d.parquet"
    f.write_bytes(b"PAR1")
    store = LocalObjectStore(tmp_path / "store")
    (result,) = store.put_tree("ds/v", f)
    assert result.key == "ds/v/d.parquet"
    assert tree_sha256(f) == hashlib.sha256(b"PAR1").hexdigest()
    a = _tree(tmp_path / "t1", {"x": b"1", "y": b"2"})
    b = _tree(tmp_path / "t2", {"x": b"1", "z": b"2"})
    assert tree_sha256(a) != tree_sha256(b)  # names count, not only contents


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a/./b", "a\\b", ""])
def test_keys_cannot_escape_the_store(tmp_path: Path, key: str) -> None:
    with pytest.raises(UsageError):
        LocalObjectStore(tmp_path).head(key)


# --------------------------------------------------------------------------- S3


@pytest.fixture
def s3_endpoint(dev_services) -> str:
    """The real SeaweedFS S3 of the dev services (started once per session)."""
    return dev_services.s3_url


@pytest.fixture
def s3_client(dev_services, monkeypatch: pytest.MonkeyPatch):
    """A boto3 client of the bot's own making on SeaweedFS, with a fresh bucket per test."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", dev_services.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", dev_services.secret_key)
    from bot.adapters.s3store import make_s3_client

    client = make_s3_client(dev_services.s3_url, "us-east-1")
    bucket = "b" + os.urandom(4).hex()
    client.create_bucket(Bucket=bucket)
    client.bucket_name = bucket  # type: ignore[attr-defined]
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    client.delete_bucket(Bucket=bucket)


def test_s3_tree_upload_verify_and_skip_unchanged(s3_client, tmp_path: Path) -> None:
    src = _tree(tmp_path / "d.zarr", {f"sst/0.{i}": os.urandom(2000) for i in range(12)} | {".zattrs": b"{}"})
    store = S3ObjectStore(s3_client, s3_client.bucket_name, prefix="pre", max_workers=4)
    results = store.put_tree("ds/v1/d.zarr", src)
    assert len(results) == 13 and not any(r.skipped for r in results)
    keys = store.list("ds")
    assert len(keys) == 13 and all(k.startswith("ds/v1/d.zarr/") for k in keys)
    raw = s3_client.head_object(Bucket=s3_client.bucket_name, Key="pre/ds/v1/d.zarr/.zattrs")
    assert raw["Metadata"]["sha256"] == hashlib.sha256(b"{}").hexdigest()
    assert raw["ContentType"] == "application/json"
    again = store.put_tree("ds/v1/d.zarr", src)
    assert all(r.skipped for r in again)
    assert store.get_bytes("ds/v1/d.zarr/.zattrs") == b"{}"
    assert store.url("ds/x") == f"s3://{s3_client.bucket_name}/pre/ds/x"
    store.delete(keys)
    assert store.list("ds") == []


def test_s3_multipart_above_threshold(s3_client, tmp_path: Path) -> None:
    big = tmp_path / "big.parquet"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    store = S3ObjectStore(s3_client, s3_client.bucket_name, transfer_config=make_transfer_config(5, 2))
    result = store.put_file("ds/big.parquet", big)
    head = s3_client.head_object(Bucket=s3_client.bucket_name, Key="ds/big.parquet")
    assert head["ETag"].strip('"').endswith("-2")  # two parts
    assert head["ContentLength"] == result.size
    assert store.head("ds/big.parquet").sha256 == result.sha256  # type: ignore[union-attr]
    assert store.put_file("ds/big.parquet", big).skipped


def test_s3_errors_name_service_url_and_status(s3_client, tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_text("{}")
    store = S3ObjectStore(s3_client, "no-such-bucket-here", attempts=1)
    with pytest.raises(ServiceError) as info:
        store.put_file("ds/a.json", f)
    text = str(info.value)
    assert text.startswith("s3 HTTP 404")
    assert "no-such-bucket-here" in text and "NoSuchBucket" in text
    assert "test-secret" not in text


def test_s3_transient_errors_are_retried(s3_client, tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_text("{}")
    calls = {"n": 0}
    real_upload = s3_client.upload_file

    class Flaky:
        meta = s3_client.meta

        def __getattr__(self, name):
            return getattr(s3_client, name)

        def upload_file(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] < 3:
                raise ConnectionResetError("connection reset by peer")
            return real_upload(*args, **kwargs)

    waits: list[float] = []
    store = S3ObjectStore(Flaky(), s3_client.bucket_name, sleep=waits.append)
    assert not store.put_file("ds/a.json", f).skipped
    assert calls["n"] == 3 and len(waits) == 2
    assert store.exists("ds/a.json")
