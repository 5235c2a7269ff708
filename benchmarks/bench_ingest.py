"""STAC ingest throughput: bulk upsert (StacApi.upsert_items) vs one item per request.

    python benchmarks/bench_ingest.py            # 2,000 bulk items vs 400 single items (< 1 minute)
    python benchmarks/bench_ingest.py --full     # 10,000 items each way (the issue's size)

Uses the running dev services (`python scripts/dev_services.py up`; state
from $CATALOG_BOT_DEV_STATE or .dev-services) or starts a private set.
Both paths go through the same adapter (retries, error handling) against the
same stac-fastapi-pgstac in the same run; each uses a fresh collection that
is deleted afterwards.  Target: bulk >= 8x items/s of one-per-request.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _dev import dev_service  # noqa: E402

from bot.adapters.stac_api import StacApi  # noqa: E402


def collection(cid: str) -> dict:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": cid,
        "description": "benchmark",
        "license": "CC-BY-4.0",
        "links": [],
        "extent": {
            "spatial": {"bbox": [[-180, -90, 180, 90]]},
            "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]},
        },
    }


def items(cid: str, n: int) -> list[dict]:
    out = []
    for i in range(n):
        lon, lat = -180 + (i * 0.037) % 360, -60 + (i * 0.011) % 120
        out.append(
            {
                "type": "Feature",
                "stac_version": "1.1.0",
                "id": f"item-{i:06d}",
                "collection": cid,
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "bbox": [lon, lat, lon, lat],
                "properties": {"datetime": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00Z", "value": i},
                "links": [],
                "assets": {"data": {"href": f"https://example.org/{i}.parquet", "roles": ["data"]}},
            }
        )
    return out


def timed(api: StacApi, n: int, bulk: bool) -> float:
    cid = f"bench-{uuid.uuid4().hex[:8]}"
    api.create_collection(collection(cid))
    docs = items(cid, n)
    try:
        start = time.perf_counter()
        if bulk:
            api.upsert_items(cid, docs)
        else:
            for doc in docs:
                api.upsert_item(cid, doc)
        elapsed = time.perf_counter() - start
        stored = len(api.get_items(cid, limit=1000))
        assert stored == n, f"expected {n} items, found {stored}"
        return elapsed
    finally:
        api.delete_collection(cid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="10,000 items each way")
    parser.add_argument("--bulk", type=int, help="items through bulk_items")
    parser.add_argument("--single", type=int, help="items one per request")
    args = parser.parse_args()
    n_bulk = args.bulk or (10_000 if args.full else 2_000)
    n_single = args.single or (10_000 if args.full else 400)
    url, _, cleanup = dev_service("stac")
    try:
        api = StacApi(url, httpx.Client(timeout=120))
        single_s = timed(api, n_single, bulk=False)
        bulk_s = timed(api, n_bulk, bulk=True)
    finally:
        cleanup()
    single_rate, bulk_rate = n_single / single_s, n_bulk / bulk_s
    print(f"STAC API {url} (stac-fastapi-pgstac), same run")
    print(f"{'path':<34}{'items':>8}{'seconds':>10}{'items/s':>10}")
    print(f"{'one item per request (POST)':<34}{n_single:>8}{single_s:>10.2f}{single_rate:>10.0f}")
    print(f"{'bulk_items upsert, 500/request':<34}{n_bulk:>8}{bulk_s:>10.2f}{bulk_rate:>10.0f}")
    ratio = bulk_rate / single_rate
    print(f"speed-up: {ratio:.1f}x (target >= 8x): {'OK' if ratio >= 8 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
