"""Bytes moved between Argo steps for one publish: references (now) vs data artifacts (before).

    python benchmarks/bench_argo_transfer.py               # reef-temperature, 60 loggers x 2 years (~175k rows)
    python benchmarks/bench_argo_transfer.py --sites 200   # bigger: the ratio only falls with size

One publish of the example's reef-temperature dataset (its CSV replaced by a
realistic-size one) through the rendered WorkflowTemplate on the Argo test
server, every step a real ``catalog-bot step`` process, against the dev S3
(SeaweedFS) behind a byte meter (tests/argo_pods.py).  Counted: artifact bytes
every pod unpacks (gzipped tar, as Argo stores them) + object-store GET bytes
of every step after the source reads (plan-sources, convert-file); divided
by the converted data size.

Baseline, same run, same data: the same template rewritten the way it was
rendered before references (no ``--data-refs``: the converted data is in
convert's artifact, every step mounts the artifacts of all its ancestors,
no plan-sources/convert-file map; inputs marked optional so that a skipped
step's missing output does not stop it -- the template of that time failed
there on a real cluster).  Bytes are deterministic for a given input, so one run each is
the measure (no timing involved).  Target: <= 1.2x (before: ~13x).
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _dev import dev_service  # noqa: E402

from bot.catalog.layout import Catalog  # noqa: E402
from bot.pipeline.argo_render import PUBLISH_TEMPLATE, render_all  # noqa: E402
from bot.pipeline.dag import PUBLISH  # noqa: E402
from tests.argo_publish import ENV, REPOSITORY, ArgoWorld  # noqa: E402

EXAMPLE = REPO / "catalog_templates" / "example"
SCHEMAS = REPO.parent / "shared" / "contracts" / "schemas"


def data_artifacts(manifest: dict[str, Any]) -> dict[str, Any]:
    """The template as rendered before references: data in convert's artifact, every ancestor mounted."""
    out = copy.deepcopy(manifest)
    spec = out["spec"]
    fanout = {"plan-sources", "convert-file"}  # the map in front of convert came later as well
    spec["templates"] = [t for t in spec["templates"] if t["name"] not in fanout]
    for template in spec["templates"]:
        if template["name"] in PUBLISH.names():
            args = template["container"]["args"]
            template["container"]["args"] = [a for a in args if a != "--data-refs"]
            inputs = template["inputs"]["artifacts"]
            template["inputs"]["artifacts"] = [a for a in inputs if "git" in a] + [
                {"name": f"work-{n}", "path": f"/work/{n}", "optional": True}
                for n in PUBLISH.ancestors(template["name"])
            ]
        if "dag" in template:
            template["dag"]["tasks"] = [t for t in template["dag"]["tasks"] if t["name"] not in fanout]
            for task in template["dag"]["tasks"]:
                if task["name"] == "convert":
                    task.pop("dependencies", None)
                ancestors = PUBLISH.ancestors(task["name"])
                if ancestors:
                    task["arguments"] = {
                        "artifacts": [
                            {"name": f"work-{n}", "from": "{{tasks." + n + ".outputs.artifacts.work}}"}
                            for n in ancestors
                        ]
                    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=60)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--schemas", type=Path, default=SCHEMAS)
    args = parser.parse_args()
    url, state, cleanup = dev_service("s3")
    creds = (state["credentials"]["access_key"], state["credentials"]["secret_key"])
    swagger = args.schemas / "argo-workflows-v4.1.2" / "api" / "openapi-spec" / "swagger.json"
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-argo-") as tmp,
            ArgoWorld(Path(tmp), swagger, url, creds, args.schemas) as world,
        ):
            catalog, sha = world.catalog(EXAMPLE, rows=(args.sites, args.days))
            refs = world.publish(catalog, sha, "reef-temperature")
            template = render_all(Catalog.open(catalog), ENV, REPOSITORY)[f"{PUBLISH_TEMPLATE}.yaml"]
            world.client.apply_template(data_artifacts(template))
            before = world.publish(catalog, sha, "reef-temperature")
            for label, run in (("references (--data-refs)", refs), ("data artifacts (before)", before)):
                print(f"\n== {label}: {run.phase}\n{run.table()}")
                print(
                    f"artifacts {run.artifact_bytes:,} B + store GETs after the source reads {run.store_bytes:,} B "
                    f"= {run.moved:,} B for {run.data_bytes:,} B converted: {run.ratio:.2f}x"
                )
            print(f"\nreferences {refs.ratio:.2f}x vs data artifacts {before.ratio:.2f}x (target <= 1.2x)")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
