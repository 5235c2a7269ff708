"""Upload the example's remote source files to the dev services' public bucket.

Why: the example dataset ``reef-temperature-daily`` reads its daily CSV files
from ``s3://catalog-public/example-sources/reef-loggers/`` (the dev SeaweedFS),
as a real catalog reads data where it lives.  This puts them there:

    python scripts/dev_services.py up && source .dev-services/dev.env
    python scripts/seed_example_sources.py [--days N]

``--days N`` uploads only the first N days (then run it again without
``--days`` to watch a publish append the new days only).  Credentials come
from the environment (``dev.env``), as for the bot.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

SOURCES = Path(__file__).resolve().parents[1] / "catalog_templates" / "example" / "sources"
BUCKET = "catalog-public"
PREFIX = "example-sources"


def main(argv: list[str] | None = None) -> int:
    """Upload (or refresh) the files; prints what it did."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=None, help="only the first N daily files")
    parser.add_argument("--prefix", default=PREFIX, help=f"key prefix in the bucket (default {PREFIX})")
    parser.add_argument("--endpoint-url", default=os.environ.get("CATALOG_BOT_DEV_S3_URL", "http://127.0.0.1:8333"))
    args = parser.parse_args(argv)
    from bot.adapters.s3store import make_s3_client

    client = make_s3_client(args.endpoint_url, "us-east-1")
    files = sorted(p for p in SOURCES.rglob("*") if p.is_file())
    if args.days is not None:
        files = files[: args.days]
    for path in files:
        key = f"{args.prefix}/{path.relative_to(SOURCES).as_posix()}"
        client.upload_file(str(path), BUCKET, key)
    print(f"uploaded {len(files)} file(s) to s3://{BUCKET}/{args.prefix}/ at {args.endpoint_url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
