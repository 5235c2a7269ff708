# ruff: noqa: F811 - the fixtures `world` and `github` are imported from test_events_flow
"""Issue #10 under the Argo engine: the pods' configuration and the publish ledger.

The Argo Server test double (``tests/argo_server.py``) checks every request
against Argo's swagger and, here, runs the rendered step containers for real
(``catalog-bot step`` processes, git artifacts cloned from the GitHub
double's bare repository), so what a pod reads is what the manifest makes it
read.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from bot.adapters.argo import ArgoClient
from bot.catalog.layout import Catalog
from bot.config import EnvironmentConfig, Secret
from bot.events.context import BotContext
from bot.events.handlers import handle
from bot.events.ledger import PublishLedger
from bot.events.models import parse_event
from bot.events.publisher import materialize
from bot.pipeline.argo_render import PUBLISH_TEMPLATE, render_all
from bot.structs import load
from tests.argo_pods import PodRunner
from tests.argo_server import ArgoTestServer
from tests.github_server import TOKEN, make_client
from tests.test_events_flow import (  # noqa: F401 - fixtures
    DP,
    REPO,
    World,
    bot_comments,
    github,
    push_payload,
    world,
)
from tests.test_trust_attacks import CountingServer

ARGO_TOKEN = "argo-token-7c2e9d41b8"
MPA = "datasets/marine-protected-areas/datapackage.json"
REEF = "reef-temperature"


@pytest.fixture
def evil_host() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


@pytest.fixture
def argo(schemas_dir: Path) -> Iterator[ArgoTestServer]:
    swagger = schemas_dir / "argo-workflows-v4.1.2" / "api" / "openapi-spec" / "swagger.json"
    with ArgoTestServer(swagger, ARGO_TOKEN) as server:
        yield server
        assert server.state.violations == []


def _trusted_prod(world: World, argo: ArgoTestServer, output: Path) -> dict[str, Any]:
    """The default branch gets an Argo environment; its WorkflowTemplate is applied from that configuration."""
    config = yaml.safe_load(world.server_file("main", "catalog-bot.yaml"))
    config["environments"]["prod"] = {
        "engine": "argo",
        "output": str(output),
        "argo": {"url": argo.url, "git_url": str(world.repo.git_dir)},
    }
    main = world.server.commit_files(REPO, "main", {"catalog-bot.yaml": yaml.safe_dump(config).encode()})
    subprocess.run(["git", "-C", str(world.clone), "fetch", "-q", "origin", "main"], check=True)
    tree = materialize(world.clone, main, world.tmp / "trusted-tree")
    manifests = render_all(Catalog.open(tree), "prod", REPO)
    ArgoClient(argo.url, token=ARGO_TOKEN).apply_template(manifests[f"{PUBLISH_TEMPLATE}.yaml"])
    return config


def _ctx(world: World, **kw: Any) -> BotContext:
    settings = msgspec.structs.replace(world.settings, argo_token=Secret(ARGO_TOKEN))
    return BotContext(settings=settings, repo_dir=world.clone, gh=make_client(world.server, REPO), **kw)


def _params(wf: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}


@pytest.mark.slow  # every step of the publish DAG is a fresh `catalog-bot step` process (~40 s)
def test_pods_of_a_pr_publish_use_the_default_branchs_configuration(
    world: World, argo: ArgoTestServer, evil_host: CountingServer, tmp_path: Path
) -> None:
    """A PR points prod's S3, STAC, pygeoapi and Argo at its host; a maintainer publishes it; every pod runs.

    The pods clone the PR head (its datasets/ are what is published) and the
    default branch's commit, and build the overlay before any step reads the
    catalog: the PR's title is published into the trusted output, and no
    pod -- nor the bot -- ever connects to the PR's host.
    """
    trusted_out, evil_out = tmp_path / "prod-out", tmp_path / "evil-out"
    config = _trusted_prod(world, argo, trusted_out)
    main = world.main()
    evil_url = f"http://127.0.0.1:{evil_host.port}"
    evil = json.loads(json.dumps(config))
    evil["environments"]["prod"] = {
        "engine": "argo",
        "output": str(evil_out),
        "object_store": {"kind": "s3", "endpoint_url": evil_url, "public_base_url": f"{evil_url}/public"},
        "stac": {"kind": "api", "url": evil_url},
        "pygeoapi": {"kind": "api", "url": evil_url},
        "argo": {"url": evil_url, "git_url": str(world.repo.git_dir)},
    }
    data = json.loads(world.server_file("main", DP))
    data["title"] = "Reef temperature, as the PR has it"
    head = world.server.commit_files(
        REPO,
        "evil-argo",
        {"catalog-bot.yaml": yaml.safe_dump(evil).encode(), DP: (json.dumps(data, indent=2) + "\n").encode()},
        parent=main,
    )
    pr = world.server.open_pr(REPO, "evil-argo", user="stranger")["number"]

    state = argo.state
    state.exit_base_env = world.cli_env(tmp_path)
    state.pods = PodRunner(root=tmp_path / "pods", base_env=world.cli_env(tmp_path), cwd=tmp_path)
    state.secrets["catalog-bot-github"] = {
        "username": "x-access-token",
        "token": TOKEN,
        "api_url": world.server.base_url,
    }
    [outcome] = handle(
        parse_event("issue_comment", world.comment_payload(pr, f"/catalog publish {REEF} env=prod", "mia")), _ctx(world)
    )
    assert outcome.ok, bot_comments(world, pr)[-1]
    [name] = state.workflows
    assert _params(state.workflows[name]) == {
        "dataset": REEF,
        "sha": head,  # the data: the PR head, a commit the cluster can fetch
        "config-sha": main,  # everything else: the default branch
        "environment": "prod",
        "pr": str(pr),
        "repository": REPO,
    }

    final = ArgoClient(argo.url, token=ARGO_TOKEN).wait(name, sleep=lambda _: time.sleep(0.5))
    pods = state.pods.records[name]
    logs = "\n".join(f"--- {r.node}: {r.output[-2000:]}" for r in pods)
    assert final.phase == "Succeeded", logs
    assert len(pods) == len(final.nodes) and all("--datasets-from" in r.argv for r in pods)

    published = trusted_out / f"data/catalog-public/{REEF}/datapackage.json"
    assert json.loads(published.read_text())["title"] == "Reef temperature, as the PR has it"
    assert not evil_out.exists()
    assert evil_host.connections == 0
    # the exit handler (run for real, with the GitHub secret) reported the outcome on the PR head
    [report] = state.exit_runs
    assert report.returncode == 0, report.output
    states = [s["state"] for s in world.repo.statuses if s["sha"] == head and s["context"].endswith(REEF)]
    assert states[-1] == "success"


def _merge(world: World, branch: str, path: str, title: str) -> tuple[str, str]:
    data = json.loads(world.server_file("main", path))
    data["title"] = title
    world.server.commit_files(REPO, branch, {path: (json.dumps(data, indent=2) + "\n").encode()}, parent=world.main())
    pr = world.server.open_pr(REPO, branch)["number"]
    return world.server.merge_pr(REPO, pr)


def _push(world: World, before: str, after: str) -> Any:
    [outcome] = handle(parse_event("push", push_payload(world, before, after)), _ctx(world, environment="prod"))
    assert outcome.ok, outcome
    return outcome


def test_the_argo_ledger_advances_only_when_the_workflows_succeeded(
    world: World, argo: ArgoTestServer, tmp_path: Path
) -> None:
    """Submission is not success: a failed or deleted workflow leaves its push to be published again."""
    config = _trusted_prod(world, argo, tmp_path / "prod-out")
    ledger = PublishLedger("prod", load(config["environments"]["prod"], EnvironmentConfig), world.clone)
    client = ArgoClient(argo.url, token=ARGO_TOKEN)

    def submitted() -> dict[str, str]:
        """Dataset -> workflow name of the workflows the last push submitted."""
        new = {n: wf for n, wf in argo.state.workflows.items() if n not in seen}
        seen.update(new)
        return {_params(wf)["dataset"]: n for n, wf in new.items()}

    seen: dict[str, Any] = {}
    start = world.main()
    b1, a1 = _merge(world, "one", DP, "Reef, first merge")
    first = _push(world, b1, a1)
    assert first.details["base"] == b1 and set(submitted()) == {REEF}
    assert ledger.last() is None and ledger.covered() == a1  # submitted: pending, not published

    # a push while the first workflow runs starts where it started: nothing is submitted twice
    b2, a2 = _merge(world, "two", MPA, "Protected areas, while the first runs")
    second = _push(world, b2, a2)
    assert second.details["base"] == a1 and set(submitted()) == {"marine-protected-areas"}
    for name in list(argo.state.workflows):
        assert client.wait(name, sleep=lambda _: None).phase == "Succeeded"

    # success: the next push confirms both pushes before computing its range
    b3, a3 = _merge(world, "three", DP, "Reef, third merge")
    third = _push(world, b3, a3)
    assert ledger.last() == a2 and third.details["base"] == a2
    [reef3] = submitted().values()
    argo.state.fail_step = "upload-arco-data"
    assert client.wait(reef3, sleep=lambda _: None).phase == "Failed"
    argo.state.fail_step = None

    # failure: not confirmed, so the next push publishes the third push's dataset again
    b4, a4 = _merge(world, "four", MPA, "Protected areas, fourth merge")
    fourth = _push(world, b4, a4)
    assert ledger.last() == a2 and fourth.details["base"] == a2
    runs = submitted()
    assert set(runs) == {REEF, "marine-protected-areas"}

    # deletion mid-run (no exit handler ever runs): not confirmed either
    request = urllib.request.Request(
        f"{argo.url}/api/v1/workflows/argo/{runs[REEF]}",
        method="DELETE",
        headers={"Authorization": f"Bearer {ARGO_TOKEN}"},
    )
    urllib.request.urlopen(request).close()
    assert client.wait(runs["marine-protected-areas"], sleep=lambda _: None).phase == "Succeeded"
    b5, a5 = _merge(world, "five", MPA, "Protected areas, fifth merge")
    fifth = _push(world, b5, a5)
    assert ledger.last() == a2 and fifth.details["base"] == a2
    assert set(submitted()) == {REEF, "marine-protected-areas"}
    assert start not in (ledger.last(), ledger.covered())


def test_the_pod_overlay_takes_only_datasets_and_refuses_links_out_of_the_catalog(tmp_path: Path) -> None:
    """``catalog-bot step --datasets-from``: trusted files stay, datasets/ comes over, nothing else of the data."""
    from bot.adapters.git import overlay_checkout
    from bot.errors import UsageError

    def checkout(name: str, config: str, title: str) -> Path:
        root = tmp_path / name
        (root / "datasets/reef").mkdir(parents=True)
        (root / "catalog-bot.yaml").write_text(config)
        (root / "datasets/reef/datapackage.json").write_text(json.dumps({"title": title}))
        return root

    trusted = checkout("trusted", "version: 1  # trusted\n", "old title")
    (trusted / "datasets/gone").mkdir()  # removed by the PR: must not survive the overlay
    data = checkout("data", "version: 1  # from the PR\n", "new title")
    (data / "datasets/reef/alias.json").symlink_to("datapackage.json")  # a link inside: fine
    overlay_checkout(trusted, data, "datasets")
    assert (trusted / "catalog-bot.yaml").read_text() == "version: 1  # trusted\n"
    assert json.loads((trusted / "datasets/reef/alias.json").read_text())["title"] == "new title"
    assert not (trusted / "datasets/gone").exists()
    assert (data / "datasets/reef/datapackage.json").exists()  # the data checkout is left as it was

    for i, target in enumerate(("../../catalog-bot.yaml", "/etc/passwd", "../../../data/catalog-bot.yaml")):
        trusted = checkout(f"trusted{i}", "version: 1\n", "t")
        data = checkout(f"data{i}", "version: 1  # PR\n", "t")
        (data / "datasets/reef/leak.yaml").symlink_to(target)
        if target.startswith("../../c"):  # into the catalog root (the trusted file): allowed, like git archive
            overlay_checkout(trusted, data, "datasets")
            assert (trusted / "datasets/reef/leak.yaml").read_text() == "version: 1\n"
            continue
        with pytest.raises(UsageError, match="leaves the catalog"):
            overlay_checkout(trusted, data, "datasets")


def test_reconcile_confirms_in_order_and_drops_what_followed_a_failure(tmp_path: Path) -> None:
    """Pending pushes on a line of commits c1..c4 (each range starts at the one before), settled as Argo answers."""
    env = load({"engine": "argo", "output": str(tmp_path / "out")}, EnvironmentConfig)
    ledger = PublishLedger("prod", env, tmp_path)
    c0, c1, c2, c3, c4 = (f"{i}" * 40 for i in range(5))
    order = [c0, c1, c2, c3, c4]

    def is_ancestor(a: str, b: str) -> bool:
        return order.index(a) <= order.index(b)

    ledger.record(c0)
    ledger.advance(c1, c0, ["wf-1"])
    ledger.advance(c2, c1, ["wf-2a", "wf-2b"])
    ledger.advance(c3, c2, [])  # nothing to publish, but it is confirmed only after c1 and c2 are
    assert (ledger.last(), ledger.covered()) == (c0, c3)

    # c1 still running, c2 done: nothing is confirmed out of order
    phases = {"wf-1": "Running", "wf-2a": "Succeeded", "wf-2b": "Succeeded"}
    assert ledger.reconcile(lambda runs: {r: phases[r] for r in runs}, is_ancestor) == c0
    assert [e["sha"] for e in ledger.pending()] == [c1, c2, c3]

    # c1 succeeds: c1, c2 and c3 are confirmed in one go
    phases["wf-1"] = "Succeeded"
    assert ledger.reconcile(lambda runs: {r: phases[r] for r in runs}, is_ancestor) == c3
    assert ledger.pending() == [] and ledger.covered() == c3

    # c4's only workflow was deleted (the engine knows it no more): c4 is dropped, c3 stays the start
    ledger.advance(c4, c3, ["wf-4"])
    assert ledger.reconcile(lambda runs: {}, is_ancestor) == c3
    assert (ledger.last(), ledger.covered(), ledger.pending()) == (c3, c3, [])


def test_reconcile_after_a_failure_drops_the_later_pushes_too(tmp_path: Path) -> None:
    env = load({"engine": "argo", "output": str(tmp_path / "out")}, EnvironmentConfig)
    ledger = PublishLedger("prod", env, tmp_path)
    c0, c1, c2 = (f"{i}" * 40 for i in range(3))
    ledger.record(c0)
    ledger.advance(c1, c0, ["wf-1"])
    ledger.advance(c2, c1, ["wf-2"])
    answer = {"wf-1": "Failed", "wf-2": "Succeeded"}  # c2 published only c1..c2: c0..c1 is still missing
    assert ledger.reconcile(lambda runs: answer, lambda a, b: True) == c0
    assert (ledger.covered(), ledger.pending()) == (c0, [])

    # an engine that cannot answer leaves everything as it was
    from bot.errors import ServiceError

    ledger.advance(c1, c0, ["wf-3"])

    def down(runs: Any) -> dict[str, str | None]:
        raise ServiceError("argo", "connection refused")

    assert ledger.reconcile(down, lambda a, b: True) == c0
    assert [e["sha"] for e in ledger.pending()] == [c1]
