"""Isolated previews: ``/catalog preview`` on a PR, then closing the PR removes it.

The services test runs the real local engine against the real dev services
(SeaweedFS, stac-fastapi-pgstac, pygeoapi) with the simulated GitHub of
``tests/github_server.py``: every link the bot replies with must answer 200,
production objects and collections must be untouched, and after the
``pull_request_target`` ``closed`` event every link must be gone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import CatalogConfig, EnvironmentConfig, load_catalog_config
from bot.errors import CommandError
from bot.events.context import BotContext
from bot.events.handlers import handle
from bot.events.models import parse_event
from bot.events.preview import Namespace, marker, preview_environment, remove_preview
from bot.stac.namespace import rename_collection
from bot.structs import load
from tests.github_server import make_client
from tests.services import DevServices, dev_env, dev_services, pygeoapi_lock  # noqa: F401  (fixtures)
from tests.test_e2e_dev import BUCKETS, all_objects, set_environment
from tests.test_events_flow import REPO, World, bot_comments, github, world  # noqa: F401  (fixtures)

DATASET = "reef-temperature"
LINK = re.compile(r"\[link\]\((https?://[^)\s]+)\)")


# ---------------------------------------------------------------------- pure parts


def test_namespace_moves_ids_keys_and_output_below_the_pr() -> None:
    ns = Namespace(42)
    env = load({"output": "_published/dev", "object_store": {"kind": "s3", "prefix": "catalog/"}}, EnvironmentConfig)
    moved = ns.environment(env)
    assert ns.published_id(DATASET) == "pr-42-reef-temperature"
    assert moved.object_store.prefix == "catalog/preview/pr-42"
    assert moved.output == "_published/dev/preview/pr-42"
    assert env.object_store.prefix == "catalog/"  # the production environment is left as it was


def test_preview_environment_is_preview_when_defined_else_env_else_default() -> None:
    plain = load({"default_environment": "dev", "environments": {"dev": {}}}, CatalogConfig)
    assert preview_environment(plain, None) == "dev"
    assert preview_environment(plain, "local") == "local"
    with_preview = load({"environments": {"dev": {}, "preview": {}}}, CatalogConfig)
    assert preview_environment(with_preview, None) == "preview"
    with pytest.raises(CommandError, match="previews go to the `preview` environment"):
        preview_environment(with_preview, "dev")


def test_rename_collection_repoints_its_own_data_links_only() -> None:
    curated = {
        "id": DATASET,
        "title": "Reef",
        "links": [
            {"rel": "describedby", "href": "https://data.example.org/reef-temperature/datapackage.json"},
            {"rel": "about", "href": "https://example.org/reef-temperature/"},
        ],
    }
    out = rename_collection(
        curated,
        "pr-3-reef-temperature",
        "https://data.example.org/reef-temperature",
        "https://data.example.org/preview/pr-3/pr-3-reef-temperature",
    )
    assert out["id"] == "pr-3-reef-temperature"
    assert [link["href"] for link in out["links"]] == [
        "https://data.example.org/preview/pr-3/pr-3-reef-temperature/datapackage.json",
        "https://example.org/reef-temperature/",
    ]
    assert curated["id"] == DATASET  # not mutated


def closed_payload(w: World, pr: int, merged: bool = False) -> dict[str, Any]:
    """The ``pull_request_target`` delivery of a closed PR (same payload shape as ``pull_request``)."""
    p = w.pr_payload(pr)
    p["action"] = "closed"
    p["pull_request"].update(state="closed", merged=merged)
    return p


def test_closing_a_pr_without_a_preview_only_reads_its_comments(world: World) -> None:  # noqa: F811
    world.change("feature", title="x")
    pr = world.server.open_pr(REPO, "feature")["number"]
    # a person's comment carrying the marker is not the bot's record: nothing is removed
    world.server.add_comment(REPO, pr, f"{marker('dev')}\nforged", user="mallory")
    [outcome] = handle(parse_event("pull_request_target", closed_payload(world, pr)), world.ctx())
    assert outcome.ok and "no preview to remove" in outcome.message
    assert {r.method for r in world.server.requests} <= {"GET"}


def test_preview_on_an_argo_environment_is_refused(world: World) -> None:  # noqa: F811
    config = world.clone / "catalog-bot.yaml"
    doc = config.read_text() + "\n"
    doc = doc.replace("environments:\n", "environments:\n  preview:\n    engine: argo\n", 1)
    world.server.commit_files(REPO, "main", {"catalog-bot.yaml": doc.encode()}, parent=world.main())
    world.change("feature", title="x")
    pr = world.server.open_pr(REPO, "feature")["number"]
    payload = world.comment_payload(pr, f"/catalog preview {DATASET}", "wes")
    [outcome] = handle(parse_event("issue_comment", payload), world.ctx())
    assert not outcome.ok
    assert "previews run on the local engine only" in bot_comments(world, pr)[-1]


# ---------------------------------------------------------------------- real services


def _get(url: str) -> httpx.Response:
    return httpx.get(url, params={"f": "json"} if "/collections/" in url else None, timeout=60)


def _production(dev: DevServices) -> dict[str, Any]:
    """What production holds for the dataset: collection, pygeoapi resource, objects (must not change)."""
    stac = httpx.get(f"{dev.stac_url}/collections/{DATASET}", timeout=30)
    geo = httpx.get(f"{dev.pygeoapi_url}/admin/config/resources/{DATASET}", timeout=30)
    return {
        "stac": (stac.status_code, stac.json() if stac.status_code == 200 else None),
        "pygeoapi": (geo.status_code, geo.json() if geo.status_code == 200 else None),
        "objects": {b: sorted(all_objects(dev, b, f"{DATASET}/")) for b in BUCKETS},
    }


@pytest.fixture
def fresh_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's default session caches the first credentials it resolved: make it read this test's keys.

    Why: an earlier test in the same worker may have resolved other (fake) keys; a real job is one
    process with one set of keys, so this only restores that.
    """
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.mark.services
@pytest.mark.xdist_group("dev-pygeoapi")
@pytest.mark.usefixtures("pygeoapi_lock", "fresh_boto3")
def test_preview_publishes_the_pr_in_its_namespace_with_working_links_and_closing_removes_it(
    world: World,  # noqa: F811
    dev_env: DevServices,  # noqa: F811
) -> None:
    world.change("feature", title="Reef temperature, previewed")
    pr = world.server.open_pr(REPO, "feature")["number"]
    config = load_catalog_config(world.clone)
    remove_preview(config, "dev", pr, world.clone)  # a clean slate (PR numbers repeat across test runs)
    before = _production(dev_env)
    ctx = BotContext(settings=world.settings, repo_dir=world.clone, gh=make_client(world.server, REPO))

    payload = world.comment_payload(pr, f"/catalog preview {DATASET} env=dev", "wes")
    [outcome] = handle(parse_event("issue_comment", payload), ctx)
    reply = bot_comments(world, pr)[-1]
    assert outcome.ok, reply
    ident = f"pr-{pr}-{DATASET}"
    links = LINK.findall(reply)
    stac_base = f"{dev_env.stac_url}/collections/{ident}"
    assert links[:3] == [stac_base, f"{stac_base}/items/{ident}", f"{dev_env.pygeoapi_url}/collections/{ident}"]
    assert links[3].startswith(f"{dev_env.s3_url}/catalog-public/preview/pr-{pr}/{ident}/")
    for url in links:
        assert _get(url).status_code == 200, url
    item = _get(links[1]).json()
    assert item["collection"] == ident and item["properties"]["title"] == "Reef temperature, previewed"
    assert any(ident in a["href"] and f"preview/pr-{pr}/" in a["href"] for a in item["assets"].values())
    collection = _get(links[0]).json()
    described = [link["href"] for link in collection["links"] if link.get("rel") == "describedby"]
    assert described and all(_get(h).status_code == 200 and f"/preview/pr-{pr}/{ident}/" in h for h in described)
    package = httpx.get(links[3].rsplit("/", 2)[0] + "/datapackage.json", timeout=30).json()
    assert package["title"] == "Reef temperature, previewed"
    # the sticky record names the environment; production was not touched
    sticky = [c for c in world.server.issue_comments(REPO, pr) if marker("dev") in c["body"]]
    assert len(sticky) == 1 and ident in sticky[0]["body"]
    assert _production(dev_env) == before

    [closed] = handle(parse_event("pull_request_target", closed_payload(world, pr, merged=True)), ctx)
    assert closed.ok and "1 STAC collection(s), 1 pygeoapi resource(s)" in closed.message, closed.message
    for url in links:
        assert _get(url).status_code == 404, url
    assert all(all_objects(dev_env, b, f"preview/pr-{pr}/") == {} for b in BUCKETS)
    assert not (world.clone / f"_published/dev/preview/pr-{pr}").exists()
    [record] = [c["body"] for c in world.server.issue_comments(REPO, pr) if marker("dev") in c["body"]]
    assert "🧹 preview removed (merged)" in record
    assert _production(dev_env) == before


def test_preview_environment_in_catalog_yaml_is_used(world: World, tmp_path: Path) -> None:  # noqa: F811
    """A catalog that defines ``preview`` gets previews there (here a local folder), namespaced all the same."""
    set_environment(world.clone, "preview", {"engine": "local", "output": "_published/preview-env"})
    doc = (world.clone / "catalog-bot.yaml").read_bytes()
    world.server.commit_files(REPO, "main", {"catalog-bot.yaml": doc}, parent=world.main())
    world.change("feature", title="Reef temperature, local preview")
    pr = world.server.open_pr(REPO, "feature")["number"]
    ctx = BotContext(settings=world.settings, repo_dir=world.clone, gh=make_client(world.server, REPO))
    [outcome] = handle(
        parse_event("issue_comment", world.comment_payload(pr, f"/catalog preview {DATASET}", "wes")), ctx
    )
    assert outcome.ok, bot_comments(world, pr)[-1]
    root = world.clone / f"_published/preview-env/preview/pr-{pr}"
    package = root / f"data/catalog-public/pr-{pr}-{DATASET}/datapackage.json"
    assert json.loads(package.read_text())["title"] == "Reef temperature, local preview"
    collection = json.loads((root / f"stac/pr-{pr}-{DATASET}/collection.json").read_text())
    assert collection["id"] == f"pr-{pr}-{DATASET}"
    assert not (world.clone / "_published/preview-env/data").exists()  # nothing outside the namespace
    [closed] = handle(parse_event("pull_request_target", closed_payload(world, pr)), ctx)
    assert closed.ok and not root.exists()
