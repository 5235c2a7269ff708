"""One publish through the rendered Argo WorkflowTemplate, pods run for real, bytes between steps counted.

Shared by tests/test_argo_data.py and benchmarks/bench_argo_transfer.py so the
number in the README is the one the test asserts.  The world: a catalog git
repository (the git artifact clones it at the submitted SHA), the Argo test
server with a :class:`~tests.argo_pods.PodRunner`, and the real S3 server
(SeaweedFS) behind a :class:`~tests.argo_pods.S3Meter`, so every object-store
GET of every pod is counted.  STAC and pygeoapi go to the environment's local
targets (a static catalog and a config file in the shared output folder):
they are not what is measured.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.adapters.argo import ArgoClient
from bot.catalog.layout import Catalog
from bot.config import Settings
from bot.pipeline.argo_render import PUBLISH_TEMPLATE, render_all
from bot.pipeline.argo_submit import submit
from tests.argo_pods import PodRecord, PodRunner, S3Meter
from tests.argo_server import ArgoTestServer
from tests.services import DevServices

TOKEN = "argo-test-token-data-3c1d"
ENV = "argo"
REPOSITORY = "example-org/example-catalog"


@dataclass
class Transfer:
    """What one publish moved: artifact bytes into pods, object-store GET bytes of steps after the source reads."""

    workflow: str
    phase: str
    records: list[PodRecord]
    data_bytes: int  # the converted data (result.json ``bytes``)
    convert: dict[str, Any]  # the convert step's record

    @property
    def artifact_bytes(self) -> int:
        return sum(r.artifact_bytes_in for r in self.records)

    @property
    def store_bytes(self) -> int:
        """GETs of every pod but those that read the *sources* (plan-sources, convert-file): the combining
        ``convert`` counts, since the parts it reads came from other steps."""
        return sum(r.store_get_bytes for r in self.records if r.task not in ("plan-sources", "convert-file"))

    @property
    def moved(self) -> int:
        return self.artifact_bytes + self.store_bytes

    @property
    def ratio(self) -> float:
        return self.moved / self.data_bytes

    def table(self) -> str:
        rows = [f"{'pod':44} {'artifacts in':>12} {'store GET':>10}"]
        rows += [f"{r.node[:44]:44} {r.artifact_bytes_in:12} {r.store_get_bytes:10}" for r in self.records]
        return "\n".join(rows)


def reef_rows(sites: int, days: int, seed: int = 7) -> str:
    """A reef temperature logger CSV shaped like the example's (6-hourly, sites along the reef)."""
    rng = random.Random(seed)
    lines = ["site_id,time,lon,lat,depth,temperature,qc_flag"]
    start = datetime(2022, 1, 1, tzinfo=UTC)
    for site in range(sites):
        lon, lat = 145.5 + 6.4 * rng.random(), -23.4 + 9.5 * rng.random()
        depth = rng.choice((2.0, 5.0, 8.0, 12.0))
        for step in range(days * 4):
            when = start + timedelta(hours=6 * step)
            season = math.cos(2 * math.pi * (when.timetuple().tm_yday - 45) / 365.25)
            temp = 25.5 + 2.6 * season - 0.05 * depth + rng.gauss(0, 0.35)
            flag = 1 if rng.random() > 0.01 else 2
            lines.append(f"SITE-{site:03d},{when:%Y-%m-%dT%H:%M:%SZ},{lon:.4f},{lat:.4f},{depth},{temp:.3f},{flag}")
    return "\n".join(lines) + "\n"


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def catalog_repo(
    example: Path,
    dest: Path,
    s3_url: str,
    argo_url: str,
    *,
    prefix: str,
    rows: tuple[int, int] | None,
    prepare: Callable[[Path], None] | None = None,
) -> tuple[Path, str]:
    """A git repository of the example catalog with an ``argo`` environment on S3 at ``s3_url``; (path, sha).

    ``rows`` = (sites, days): the reef-temperature source replaced by a
    realistic-size one (a few MB converted) so ratios are not dominated by
    the fixed size of metadata documents; ``prepare`` edits the catalog
    before the commit (e.g. splits a source into many files).
    """
    shutil.copytree(example, dest)
    config = yaml.safe_load((dest / "catalog-bot.yaml").read_text(encoding="utf-8"))
    config["environments"][ENV] = {
        "engine": "argo",
        "output": "_published/argo",
        "object_store": {
            "kind": "s3",
            "endpoint_url": s3_url,
            "region": "us-east-1",
            "public_bucket": "catalog-public",
            "limited_bucket": "catalog-limited",
            "prefix": prefix,
        },
        "argo": {"url": argo_url, "git_url": str(dest)},
    }
    (dest / "catalog-bot.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    if rows is not None:
        csv = dest / "datasets" / "reef-temperature" / "data" / "reef-temperature.csv"
        csv.write_text(reef_rows(*rows), encoding="utf-8")
    if prepare is not None:
        prepare(dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "catalog")
    return dest, git(dest, "rev-parse", "HEAD")


class ArgoWorld:
    """The Argo test server running pods, in front of the real S3 through a meter."""

    def __init__(self, tmp: Path, swagger: Path, s3_url: str, credentials: tuple[str, str], schemas: Path) -> None:
        self.tmp = tmp
        self.s3_url = s3_url
        self.meter = S3Meter(s3_url)
        self.server = ArgoTestServer(swagger, TOKEN)
        self.prefix = f"argo-refs-{uuid.uuid4().hex[:8]}"
        self.credentials = credentials
        self.schemas = schemas

    def __enter__(self) -> ArgoWorld:
        self.meter.__enter__()
        self.server.__enter__()
        cwd = self.tmp / "cwd"
        cwd.mkdir(parents=True, exist_ok=True)
        self.server.state.pods = PodRunner(
            root=self.tmp / "pods",
            base_env={
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                "HOME": str(self.tmp),
                "CATALOG_BOT_SCHEMAS": str(self.schemas),
            },
            cwd=cwd,
            meter=self.meter,
        )
        key, secret = self.credentials
        # The pods' cloud credentials come from the namespace secret the template's envFrom names.
        # The git artifacts clone with the GitHub secret's keys (a local repository ignores them).
        self.server.state.secrets = {
            "catalog-bot-env": {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret},
            "catalog-bot-github": {"username": "x-access-token", "token": "test-token"},
        }
        self.client = ArgoClient(self.server.url, token=TOKEN, attempts=3, poll_initial=0.2, poll_max=0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)
        self.meter.__exit__(*exc)
        self.purge()

    def purge(self) -> None:
        """Remove every object this world's publishes wrote (its unique prefix of the shared bucket)."""
        import boto3

        from bot.adapters.s3store import S3ObjectStore

        key, secret = self.credentials
        client = boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )
        store = S3ObjectStore(client, "catalog-public", prefix=self.prefix)
        store.delete(store.list())

    def catalog(
        self, example: Path, *, rows: tuple[int, int] | None = None, prepare: Callable[[Path], None] | None = None
    ) -> tuple[Path, str]:
        path, sha = catalog_repo(
            example, self.tmp / f"catalog-{uuid.uuid4().hex[:6]}", self.meter.url, self.server.url,
            prefix=self.prefix, rows=rows, prepare=prepare,
        )  # fmt: skip
        self.client.apply_template(render_all(Catalog.open(path), ENV, REPOSITORY)[f"{PUBLISH_TEMPLATE}.yaml"])
        return path, sha

    def publish(self, catalog: Path, sha: str, dataset: str) -> Transfer:
        settings = Settings.from_env({"ARGO_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPOSITORY})
        (run,) = submit(
            Catalog.open(catalog), [dataset], env_name=ENV, settings=settings, sha=sha, client=self.client, wait=True
        )
        runner = self.server.state.pods
        assert runner is not None
        records = runner.records.get(run.run_id, [])
        convert = self._convert_record(run.run_id)
        return Transfer(run.run_id, run.status, records, int(convert.get("bytes", 0)) or 1, convert)

    def _convert_record(self, workflow: str) -> dict[str, Any]:
        path = self.tmp / "pods" / workflow / "convert" / "work" / "convert" / "result.json"
        if not path.is_file():
            return {}
        result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return result


@pytest.fixture
def argo_world(tmp_path: Path, dev_services: DevServices, schemas_dir: Path) -> Iterator[ArgoWorld]:
    """An :class:`ArgoWorld` on the dev services' S3, checked against Argo's OpenAPI description at the end."""
    swagger = schemas_dir / "argo-workflows-v4.1.2" / "api" / "openapi-spec" / "swagger.json"
    keys = (dev_services.access_key, dev_services.secret_key)
    with ArgoWorld(tmp_path, swagger, dev_services.s3_url, keys, schemas_dir) as w:
        yield w
        assert w.server.state.violations == []
