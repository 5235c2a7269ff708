"""Previews through the real workflow files under act: preview credentials only, removed on close.

The repository's secrets hold production keys that S3 refuses
(``CATALOG_AWS_*``) and working preview keys (``PREVIEW_AWS_*``, the dev
services' pair): a preview that succeeds against the real SeaweedFS proves
its job ran with the preview keys, and the job list proves the members'
command job (production keys, Argo token) never ran.  Closing the PR runs
``catalog-bot-preview-cleanup.yml`` (``pull_request_target``) unchanged,
after which every link answers 404.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.act_harness import REPO, ActWorld, act_session, act_world  # noqa: F401  (fixtures)
from tests.services import DevServices, dev_env, dev_services, pygeoapi_lock  # noqa: F401  (fixtures)
from tests.test_e2e_dev import BUCKETS, all_objects

pytestmark = [pytest.mark.actions, pytest.mark.slow]

DATASET = "reef-temperature"
LINK = re.compile(r"\[link\]\((https?://[^)\s]+)\)")
PREVIEW_JOB = "/catalog preview (members, preview credentials only)"


def _get(url: str) -> int:
    return httpx.get(url, params={"f": "json"} if "/collections/" in url else None, timeout=60).status_code


@pytest.mark.services
@pytest.mark.xdist_group("dev-pygeoapi")
@pytest.mark.usefixtures("pygeoapi_lock")
def test_preview_job_runs_with_preview_keys_only_and_the_close_workflow_removes_it(
    act_world: ActWorld,  # noqa: F811
    dev_services: DevServices,  # noqa: F811
) -> None:
    world, env = act_world, dev_services.env
    world.act.env.update({k: v for k, v in env.items() if k.startswith("CATALOG_BOT_DEV_")})
    world.act.env["AWS_DEFAULT_REGION"] = env.get("AWS_DEFAULT_REGION", "us-east-1")
    world.act.secrets.update(
        CATALOG_AWS_ACCESS_KEY_ID="prod-key-never-in-a-preview",
        CATALOG_AWS_SECRET_ACCESS_KEY="prod-secret-never-in-a-preview",
        ARGO_TOKEN="prod-argo-token-never-in-a-preview",
        PREVIEW_AWS_ACCESS_KEY_ID=env["AWS_ACCESS_KEY_ID"],
        PREVIEW_AWS_SECRET_ACCESS_KEY=env["AWS_SECRET_ACCESS_KEY"],
    )
    world.edit_datapackage("feature", DATASET, title="Reef temperature, previewed under act")
    pr = world.github.open_pr(REPO, "feature")["number"]
    ident = f"pr-{pr}-{DATASET}"
    production = {b: all_objects(dev_services, b, f"{DATASET}/") for b in BUCKETS}

    payload = world.comment_payload(pr, f"/catalog preview {DATASET} env=dev", "mia")
    result = world.act.run("issue_comment", payload, sha=world.main())

    assert result.jobs == {PREVIEW_JOB: "succeeded"}, result.output[-5000:]  # never the production job
    reply = world.bot_comments(pr)[-1]
    links = LINK.findall(reply)
    assert len(links) == 4 and all(ident in url for url in links), reply
    assert all(_get(url) == 200 for url in links), links
    assert {b: all_objects(dev_services, b, f"{DATASET}/") for b in BUCKETS} == production

    closed = world.pr_payload(pr, "opened")
    closed["action"] = "closed"
    closed["pull_request"].update(state="closed", merged=False)
    cleanup = world.act.run("pull_request_target", closed, sha=world.main())

    assert cleanup.jobs == {"remove the preview": "succeeded"}, cleanup.output[-5000:]
    assert all(_get(url) == 404 for url in links), links
    assert all(all_objects(dev_services, b, f"preview/pr-{pr}/") == {} for b in BUCKETS)
    record = [c for c in world.bot_comments(pr) if "catalog-bot:preview:dev" in c]
    assert len(record) == 1 and "🧹 preview removed (closed)" in record[0]
