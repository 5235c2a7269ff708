"""The S3 object store (bot.adapters.objectstore) against a real SeaweedFS on 127.0.0.1."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import httpx
import pytest

from bot.adapters.objectstore import file_sha256, open_store
from bot.adapters.s3store import S3ObjectStore, make_transfer_config
from bot.config import load_catalog_config
from bot.errors import AuthError, ServiceError
from tests.conftest import EXAMPLE
from tests.services import dev_env, dev_services, unique  # noqa: F401  (fixtures)

pytestmark = pytest.mark.services


@pytest.fixture
def store(dev_services):  # noqa: F811
    s3 = S3ObjectStore(dev_services.s3_client(), "catalog-limited", prefix=unique("t-s3"), max_workers=8)
    yield s3
    s3.delete(s3.list())


def test_put_head_and_skip_unchanged_by_checksum(store: S3ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "a.json"
    src.write_bytes(b'{"a": 1}')
    first = store.put_file("x/a.json", src)
    assert not first.skipped
    info = store.head("x/a.json")
    assert info is not None and info.size == 8 and info.sha256 == file_sha256(src)
    etag = store.client.head_object(Bucket=store.bucket, Key=f"{store.prefix}/x/a.json")["ETag"]
    again = store.put_file("x/a.json", src)
    assert again.skipped
    assert store.client.head_object(Bucket=store.bucket, Key=f"{store.prefix}/x/a.json")["ETag"] == etag
    src.write_bytes(b'{"a": 2}')
    assert not store.put_file("x/a.json", src).skipped
    assert store.get_bytes("x/a.json") == b'{"a": 2}'
    assert store.head("x/missing.json") is None


def test_multipart_upload_above_threshold(dev_services, tmp_path: Path) -> None:  # noqa: F811
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024 + 17))
    store = S3ObjectStore(
        dev_services.s3_client(),
        "catalog-limited",
        prefix=unique("t-mp"),
        transfer_config=make_transfer_config(5, 4),
    )
    result = store.put_file("big.bin", big)
    meta = store.client.head_object(Bucket=store.bucket, Key=f"{store.prefix}/big.bin")
    assert meta["ContentLength"] == big.stat().st_size
    assert meta["ETag"].strip('"').endswith("-3")  # 3 parts of 5 MiB: it really was multipart
    assert store.head("big.bin").sha256 == result.sha256 == file_sha256(big)
    assert store.put_file("big.bin", big).skipped
    store.delete(["big.bin"])


@pytest.mark.slow
def test_put_tree_lists_and_verifies_many_objects(store: S3ObjectStore, tmp_path: Path) -> None:
    tree = tmp_path / "ds.zarr"
    for n in range(1050):  # more than one LIST page (1,000 keys)
        path = tree / "sst" / "c" / str(n // 100) / str(n % 100)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(n.to_bytes(4, "little"))
    (tree / "zarr.json").write_text("{}")
    results = store.put_tree("ds/v1/ds.zarr", tree)
    assert len(results) == 1051 and not any(r.skipped for r in results)
    keys = store.list("ds/v1/ds.zarr")
    assert len(keys) == 1051 and "ds/v1/ds.zarr/zarr.json" in keys
    assert all(r.skipped for r in store.put_tree("ds/v1/ds.zarr", tree))
    store.delete(keys)
    assert store.list("ds") == []


def test_public_bucket_is_anonymously_readable_and_limited_is_not(dev_env, tmp_path: Path) -> None:  # noqa: F811
    env = load_catalog_config(EXAMPLE).environment("dev")
    public = open_store(env, tmp_path, "public")
    limited = open_store(env, tmp_path, "limited")
    assert public.bucket == "catalog-public" and limited.bucket == "catalog-limited"
    key = f"{unique('t-acl')}/datapackage.json"
    src = tmp_path / "datapackage.json"
    src.write_text('{"name": "x"}')
    public.put_file(key, src)
    limited.put_file(key, src)
    # the public store hands out its public URL, and anyone can read it
    assert public.url(key).startswith(dev_env.env["CATALOG_BOT_DEV_PUBLIC_BASE_URL"])
    assert httpx.get(public.url(key), timeout=10).json() == {"name": "x"}
    # the limited store never hands out a public URL; anonymous reads are refused
    assert limited.url(key).startswith("s3://catalog-limited/")
    anonymous = httpx.get(f"{dev_env.s3_url}/catalog-limited/{key}", timeout=10)
    assert anonymous.status_code == 403
    public.delete([key])
    limited.delete([key])


def test_wrong_keys_are_an_auth_error_that_names_neither_key(dev_services, tmp_path: Path, caplog) -> None:  # noqa: F811
    bad_id, bad_secret = "WRONGKEYID1234567890", "wrong-secret-do-not-print-0123456789"
    store = S3ObjectStore(dev_services.s3_client(bad_id, bad_secret), "catalog-public", prefix="t-auth", attempts=2)
    src = tmp_path / "f.txt"
    src.write_text("x")
    caplog.set_level(logging.DEBUG, logger="catalog_bot")  # our loggers (botocore's own DEBUG log signs requests)
    with pytest.raises(AuthError) as info:
        store.put_file("f.txt", src)
    text = str(info.value)
    assert text.startswith("s3 HTTP 403") and "AWS_ACCESS_KEY_ID" in text
    for secret in (bad_id, bad_secret, dev_services.secret_key):
        assert secret not in text
        assert all(secret not in r.getMessage() for r in caplog.records if r.name.startswith("catalog_bot"))


@pytest.mark.slow
def test_s3_stopped_in_the_middle_of_an_upload_then_rerun_completes(dev_services, tmp_path: Path) -> None:  # noqa: F811
    """A private SeaweedFS is killed after some objects of a tree went up; the re-run uploads only the rest."""
    module = dev_services.module
    state = tmp_path / "private-s3"
    creds = {"access_key": dev_services.access_key, "secret_key": dev_services.secret_key}
    s3 = module.start_s3(state, creds)
    try:
        tree = tmp_path / "ds.zarr"
        for n in range(60):
            (tree / "v" / str(n)).parent.mkdir(parents=True, exist_ok=True)
            (tree / "v" / str(n)).write_bytes(os.urandom(2048))
        client = dev_services.s3_client(endpoint=s3["url"])
        real_upload = client.upload_file
        calls = []

        def upload_then_die(*args, **kwargs):
            calls.append(1)
            if len(calls) == 20:
                module.stop_group(s3["pid"], s3["expect"])  # the server dies mid-tree
            return real_upload(*args, **kwargs)

        client.upload_file = upload_then_die
        sleeps = []
        store = S3ObjectStore(client, "catalog-public", prefix="mid", max_workers=2, attempts=3, sleep=sleeps.append)
        with pytest.raises(ServiceError) as info:
            store.put_tree("ds/v1/ds.zarr", tree)
        text = str(info.value)
        assert text.startswith("s3") and s3["url"] in text
        assert sleeps, "transient connection failures must be retried before giving up"
        s3 = module.start_s3(state, creds, s3["port"])
        store = S3ObjectStore(dev_services.s3_client(endpoint=s3["url"]), "catalog-public", prefix="mid")
        results = store.put_tree("ds/v1/ds.zarr", tree)
        assert len(results) == 60
        assert any(r.skipped for r in results)  # what made it before the crash is not sent again
        assert not all(r.skipped for r in results)
        assert len(store.list("ds/v1/ds.zarr")) == 60
    finally:
        module.stop_group(s3["pid"], s3["expect"])
