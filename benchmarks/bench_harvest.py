"""Harvest N records from a local pycsw: bounded concurrency vs sequential, in one run.

A real catalogue is across a network: each request waits for a round trip
before the server does any work.  On loopback pycsw answers in a few ms of
CPU, so the benchmark puts a small delaying proxy in front of it
(``--latency-ms``, default 100 ms, a typical WAN round trip to a national
GeoNetwork); ``--latency-ms 0`` measures the bare loopback case, where the
two shared cores running pycsw are the bottleneck and concurrency cannot help.

Also checks the updater's promise that an unchanged record writes nothing to
GitHub (counted on the GitHub test server).

    python benchmarks/bench_harvest.py            # 500 records
    python benchmarks/bench_harvest.py --records 100 --concurrency 8
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.adapters.csw import MetadataSource
from bot.metadata.iso19115 import parse_record
from tests.csw_server import PycswServer, mcf, write_record


def make_records(out: Path, n: int) -> list[str]:
    """One pygeometa record, then n copies with their own identifiers (pygeometa is slow per call)."""
    template = write_record(
        mcf("rec-template", "Template record", bbox=[145, -24, 152, -13], begin="2024-01-01"), out / "tpl"
    )
    text = template.read_text(encoding="utf-8")
    ids = []
    for i in range(n):
        rid = f"rec-{i:05d}"
        (out / f"{rid}.xml").write_text(
            text.replace("rec-template", rid).replace("Template record", f"Record {i}"), encoding="utf-8"
        )
        ids.append(rid)
    shutil.rmtree(out / "tpl")
    return ids


class DelayProxy:
    """Forward GET requests to ``target`` after ``delay`` seconds (a simulated network round trip)."""

    def __init__(self, target: str, delay: float) -> None:
        import http.server
        import threading

        import httpx

        client = httpx.Client(timeout=60)

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                time.sleep(delay)
                upstream = client.get(target + self.path[self.path.index("?") :] if "?" in self.path else target)
                self.send_response(upstream.status_code)
                self.send_header("Content-Type", upstream.headers.get("content-type", "application/xml"))
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/csw"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def harvest(url: str, ids: list[str], workers: int) -> float:
    source = MetadataSource(url, timeout=30)
    start = time.perf_counter()

    def one(rid: str) -> str | None:
        return parse_record(source.get_record(rid), source=rid).title

    with ThreadPoolExecutor(max_workers=workers) as pool:
        titles = list(pool.map(one, ids))
    elapsed = time.perf_counter() - start
    assert all(titles), "every record must parse"
    return elapsed


def zero_writes_check(tmp: Path, csw_url: str) -> int:
    """Writes the updater sends to GitHub for an unchanged record (must be 0)."""
    from bot.catalog.layout import Catalog
    from bot.pipeline.harvest import harvest_all, propose_updates
    from tests.github_server import FakeGitHub, make_client

    catalog = tmp / "catalog"
    shutil.copytree(Path(__file__).resolve().parents[1] / "catalog_templates" / "example", catalog)
    pipeline = catalog / "datasets" / "reef-temperature" / "pipeline.yaml"
    pipeline.write_text(
        pipeline.read_text() + f"metadata_source: {{kind: csw, url: '{csw_url}', record_id: rec-00000}}\n"
    )
    cat = Catalog.open(catalog)
    outcome = harvest_all(cat, [cat.dataset("reef-temperature")], lambda u: MetadataSource(u))[0]
    (catalog / "datasets" / "reef-temperature" / "datapackage.json").write_text(json.dumps(outcome.datapackage))
    env = {
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@e",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@e",
        "PATH": "/usr/bin:/bin",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "c"]):
        subprocess.run(["git", *args], cwd=catalog, check=True, env=env, capture_output=True)
    (tmp / "gh").mkdir()
    server = FakeGitHub(tmp / "gh").start()
    try:
        server.add_repo("octo/catalog", catalog)
        gh = make_client(server, "octo/catalog")
        before = sum(server.count(m) for m in ("POST", "PATCH", "PUT", "DELETE"))
        outcomes = harvest_all(cat, [cat.dataset("reef-temperature")], lambda u: MetadataSource(u))
        propose_updates(outcomes, gh)
        return sum(server.count(m) for m in ("POST", "PATCH", "PUT", "DELETE")) - before
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=100.0, help="simulated network round trip per request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ids = make_records(tmp / "records", args.records)
        with PycswServer(tmp / "pycsw") as csw:
            csw.load(tmp / "records")
            proxy = DelayProxy(csw.url, args.latency_ms / 1000) if args.latency_ms else None
            url = proxy.url if proxy else csw.url
            harvest(url, ids[:10], 2)  # warm up
            seq = harvest(url, ids, 1)
            par = harvest(url, ids, args.concurrency)
            if proxy:
                proxy.close()
            writes = zero_writes_check(tmp, csw.url)
    print("| mode | records | seconds | records/s |\n|---|---|---|---|")
    print(f"| sequential | {args.records} | {seq:.2f} | {args.records / seq:.0f} |")
    print(f"| concurrency {args.concurrency} | {args.records} | {par:.2f} | {args.records / par:.0f} |")
    print(f"speed-up: {seq / par:.1f}x (target >= 3x); GitHub writes for an unchanged record: {writes} (target 0)")


if __name__ == "__main__":
    main()
