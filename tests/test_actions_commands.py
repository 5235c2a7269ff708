"""Comments, issues and merges through the real workflow files under act.

Scenario (c): ``/catalog publish ID env=dev`` by a maintainer -> 👀, the
dataset published to the real dev services (SeaweedFS, pgstac, pygeoapi),
a reply with the run link and 🚀; the same comment from a read-only user ->
refused, nothing published.  Scenario (d): a merge (push to main) publishes
what changed and leaves a final commit status.  Scenario (e): a dataset
issue, then ``/catalog generate`` -> a bot PR.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.stac.build import PROVENANCE_PREFIX
from tests.act_harness import REPO, ActWorld, act_session, act_world  # noqa: F401  (fixtures)
from tests.github_server import adapt, load_webhook, webhook_errors
from tests.services import DevServices, dev_env, dev_services, pygeoapi_lock  # noqa: F401  (fixtures)
from tests.test_events_flow import FORM_BODY

pytestmark = [pytest.mark.actions, pytest.mark.slow]

DATASET = "reef-temperature"
RUN_LINK = f"https://github.com/{REPO}/actions/runs/1"


@pytest.fixture
def world(act_world: ActWorld) -> ActWorld:  # noqa: F811
    return act_world


def with_dev(world: ActWorld, dev: DevServices) -> None:
    """The job sees the dev services as a runner with the environment's secrets would."""
    env = dev.env
    world.act.env.update({k: v for k, v in env.items() if k.startswith("CATALOG_BOT_DEV_")})
    world.act.env["AWS_DEFAULT_REGION"] = env.get("AWS_DEFAULT_REGION", "us-east-1")
    world.act.secrets.update(
        CATALOG_AWS_ACCESS_KEY_ID=env["AWS_ACCESS_KEY_ID"], CATALOG_AWS_SECRET_ACCESS_KEY=env["AWS_SECRET_ACCESS_KEY"]
    )


def stac_items(dev: DevServices, dataset: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{dev.stac_url}/collections/{dataset}/items", timeout=30)
    return resp.json().get("features", []) if resp.status_code == 200 else []


def forget(dev: DevServices, dataset: str) -> None:
    """Remove the example datasets from the dev services and this dataset's objects (the example has no key prefix)."""
    from tests.test_e2e_dev import reset

    reset(dev, dataset)
    assert stac_items(dev, dataset) == []


def test_read_only_user_cannot_publish_and_nothing_is_published(world: ActWorld) -> None:
    world.edit_datapackage("feature", DATASET, title="Reef temperature, PR edit")
    pr = world.github.open_pr(REPO, "feature")["number"]
    payload = world.comment_payload(pr, f"/catalog publish {DATASET} env=dev", "rita")
    result = world.act.run("issue_comment", payload, sha=world.main())
    # A reader is routed to the job that holds no secret, before any concurrency group.
    assert result.jobs == {"/catalog command (everyone else)": "succeeded"}, result.output[-3000:]
    reply = world.bot_comments(pr)[-1]
    assert "needs **maintain**" in reply and "you have **read**" in reply
    assert world.github.reactions_of(REPO, payload["comment"]["id"]) == ["eyes", "confused"]
    assert not [s for s in world.repo.statuses if s["context"].startswith("catalog-bot/publish/")]


@pytest.mark.services
@pytest.mark.xdist_group("dev-pygeoapi")
@pytest.mark.usefixtures("pygeoapi_lock")
def test_maintainer_publishes_to_the_dev_services_from_a_comment(world: ActWorld, dev_services: DevServices) -> None:  # noqa: F811
    forget(dev_services, DATASET)
    with_dev(world, dev_services)
    world.edit_datapackage("feature", DATASET, title="Reef temperature, published from a comment")
    pr = world.github.open_pr(REPO, "feature")["number"]
    head = world.github.rev(REPO, "feature")
    payload = world.comment_payload(pr, f"/catalog publish {DATASET} env=dev", "mia")

    result = world.act.run("issue_comment", payload, sha=world.main())

    assert result.jobs.get("/catalog command (members)") == "succeeded", result.output[-5000:]
    reactions = world.github.reactions_of(REPO, payload["comment"]["id"])
    assert reactions[0] == "eyes" and "rocket" in reactions and "confused" not in reactions
    reply = world.bot_comments(pr)[-1]
    assert f"`{DATASET}`" in reply and "succeeded" in reply and RUN_LINK in reply
    [item] = stac_items(dev_services, DATASET)
    assert item["collection"] == DATASET
    assert item["properties"][f"{PROVENANCE_PREFIX}commit"] == head  # the PR head, pinned on acceptance
    assert item["properties"][f"{PROVENANCE_PREFIX}run_url"] == RUN_LINK
    geo = httpx.get(f"{dev_services.pygeoapi_url}/collections/{DATASET}", params={"f": "json"}, timeout=30)
    assert geo.status_code == 200


@pytest.mark.services
@pytest.mark.xdist_group("dev-pygeoapi")
@pytest.mark.usefixtures("pygeoapi_lock")
def test_a_merge_publishes_what_changed_and_sets_the_final_status(world: ActWorld, dev_services: DevServices) -> None:  # noqa: F811
    forget(dev_services, DATASET)
    with_dev(world, dev_services)
    config = world.show("main", "catalog-bot.yaml").replace("default_environment: local", "default_environment: dev")
    world.github.commit_files(REPO, "main", {"catalog-bot.yaml": config.encode()}, message="publish to dev")
    world.edit_datapackage("feature", DATASET, title="Reef temperature, merged")
    pr = world.github.open_pr(REPO, "feature")["number"]
    before, after = world.github.merge_pr(REPO, pr)
    push = adapt(load_webhook("drone-go-scm/scm/driver/github/testdata/webhooks/push.json"), world.repo, world.github)
    push.update(ref="refs/heads/main", before=before, after=after, created=False, deleted=False)
    push["head_commit"]["id"] = after
    assert webhook_errors("push", push, lenient=True) == []

    result = world.act.run("push", push, sha=after)

    assert result.jobs == {"publish": "succeeded"}, result.output[-5000:]
    statuses = [s for s in world.repo.statuses if s["sha"] == after]
    assert [(s["context"], s["state"]) for s in statuses] == [
        (f"catalog-bot/publish/{DATASET}", "pending"),
        (f"catalog-bot/publish/{DATASET}", "success"),
    ]
    assert statuses[-1]["target_url"] == RUN_LINK
    [table] = [c for c in world.bot_comments(pr) if "catalog-bot:publish" in c]
    assert f"`{DATASET}`" in table and "succeeded" in table
    [item] = stac_items(dev_services, DATASET)
    assert item["properties"][f"{PROVENANCE_PREFIX}commit"] == after


def test_a_dataset_issue_then_generate_opens_a_bot_pr(world: ActWorld) -> None:
    issue = world.github.add_issue(REPO, "Dataset: coral cover", FORM_BODY, labels=("dataset",))
    opened = adapt(load_webhook("issues/opened.payload.json"), world.repo, world.github)
    opened["issue"].update(number=issue["number"], body=FORM_BODY)
    opened["issue"]["labels"] = (
        [{**opened["issue"]["labels"][0], "name": "dataset"}] if opened["issue"]["labels"] else []
    )
    assert webhook_errors("issues", opened) == []

    first = world.act.run("issues", opened, sha=world.main())
    assert first.jobs == {"dataset issue": "succeeded"}, first.output[-3000:]
    body = world.repo.issues[issue["number"]]["body"]
    assert body.startswith(FORM_BODY) and "/catalog generate" in body

    world.github.set_permission(REPO, "wes", "write")
    payload = world.comment_payload(issue["number"], "/catalog generate", "wes")
    second = world.act.run("issue_comment", payload, sha=world.main())
    assert second.jobs == {"/catalog command (members)": "succeeded"}, second.output[-3000:]
    [pr] = [n for n, p in world.repo.pulls.items() if p["head_ref"] == "catalog-bot/generate/coral-cover"]
    dp = json.loads(world.show("catalog-bot/generate/coral-cover", "datasets/coral-cover/datapackage.json"))
    assert dp["name"] == "coral-cover" and dp["spatial"]["bbox"] == [145.0, -24.5, 153.0, -10.0]
    assert f"#{pr}" in world.repo.issues[issue["number"]]["body"]
    reactions = world.github.reactions_of(REPO, payload["comment"]["id"])
    assert reactions[0] == "eyes" and "confused" not in reactions
