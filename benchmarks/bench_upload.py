"""Upload throughput to SeaweedFS: S3ObjectStore.put_tree vs sequential single put_object calls.

    python benchmarks/bench_upload.py            # 192 MiB in 24 files of 8 MiB (well under 2 minutes)
    python benchmarks/bench_upload.py --full     # 1 GiB in 64 files of 16 MiB (the issue's size)

Uses the running dev S3 (`python scripts/dev_services.py up`) or starts a
private SeaweedFS.  Same files, same server, same run, each way into its
own fresh prefix (deleted afterwards).  The adapter path includes what it
always does: sha256 of every file, a HEAD before each upload (skip
unchanged) and a HEAD after (verify), multipart above the threshold, files in
parallel.  Target: >= 2x the MB/s of the naive loop.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.adapters.objectstore import S3ObjectStore, make_s3_client, make_transfer_config  # noqa: E402


def dev_module():
    spec = importlib.util.spec_from_file_location("dev_services", REPO / "scripts" / "dev_services.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def s3_endpoint() -> tuple[str, dict, callable]:
    """URL + credentials of a healthy dev S3, and a cleanup callable (stops what we started)."""
    module = dev_module()
    state_dir = Path(os.environ.get("CATALOG_BOT_DEV_STATE") or REPO / ".dev-services")
    state = module.load_state(state_dir)
    info = state.get("services", {}).get("s3")
    if info and module.s3_healthy(info):
        return info["url"], state["credentials"], lambda: None
    private = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    state = module.up(private, ["s3"])
    return state["services"]["s3"]["url"], state["credentials"], lambda: (module.down(private), shutil.rmtree(private))


def make_files(folder: Path, count: int, size: int) -> None:
    block = os.urandom(1 << 20)
    for n in range(count):
        path = folder / "data" / f"part-{n:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            for i in range(size >> 20):
                fh.write(n.to_bytes(4, "little") + i.to_bytes(4, "little") + block[8:])  # distinct content per MiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="1 GiB in 64 files of 16 MiB")
    parser.add_argument("--files", type=int)
    parser.add_argument("--mib", type=int, help="MiB per file")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    count = args.files or (64 if args.full else 24)
    mib = args.mib or (16 if args.full else 8)
    url, creds, cleanup = s3_endpoint()
    os.environ["AWS_ACCESS_KEY_ID"] = creds["access_key"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = creds["secret_key"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    bucket = "catalog-limited"
    try:
        make_files(tmp, count, mib << 20)
        total = count * (mib << 20)
        files = sorted((tmp / "data").iterdir())
        client = make_s3_client(url, "us-east-1", max_pool=args.workers * 2)

        naive_prefix = f"bench-naive-{uuid.uuid4().hex[:8]}"
        start = time.perf_counter()
        for path in files:
            with path.open("rb") as body:
                client.put_object(Bucket=bucket, Key=f"{naive_prefix}/{path.name}", Body=body)
        naive_s = time.perf_counter() - start

        store = S3ObjectStore(
            client,
            bucket,
            prefix=f"bench-tree-{uuid.uuid4().hex[:8]}",
            transfer_config=make_transfer_config(8, 4),
            max_workers=args.workers,
        )
        start = time.perf_counter()
        results = store.put_tree("data", tmp / "data")
        tree_s = time.perf_counter() - start
        assert len(results) == count and not any(r.skipped for r in results)
        start = time.perf_counter()
        again = store.put_tree("data", tmp / "data")
        skip_s = time.perf_counter() - start
        assert all(r.skipped for r in again)

        store.delete(store.list())
        naive = S3ObjectStore(client, bucket, prefix=naive_prefix)
        naive.delete(naive.list())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        cleanup()
    mb = total / 1e6
    print(f"SeaweedFS {url}: {count} files x {mib} MiB = {total / (1 << 20):.0f} MiB, same run")
    print(f"{'path':<52}{'seconds':>9}{'MB/s':>9}")
    print(f"{'sequential put_object, one file at a time':<52}{naive_s:>9.2f}{mb / naive_s:>9.1f}")
    label = f"S3ObjectStore.put_tree ({args.workers} files, multipart 8 MiB x4)"
    print(f"{label:<52}{tree_s:>9.2f}{mb / tree_s:>9.1f}")
    print(f"{'re-run, unchanged (checksum skip)':<52}{skip_s:>9.2f}{'-':>9}")
    ratio = naive_s / tree_s
    print(f"speed-up: {ratio:.1f}x (target >= 2x): {'OK' if ratio >= 2 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
