"""Issue #10's key attacks replayed through the REAL workflow files under act.

``tests/test_trust_attacks.py`` plays them against the event handlers; here
the workflow files decide which job runs, with which secrets and token, so a
wrong ``if:``, a secret mapped into the wrong job or a privileged job that
trusts its artifact fails a test.  Scenarios:

(a) a PR feeds ``${AWS_SECRET_ACCESS_KEY}`` to Jsonnet through its own
    ``ext_vars`` and encodes it into keywords; a read-only user comments
    ``/catalog check`` while the runner's environment holds the secret: no
    form of it reaches GitHub (comments, check runs, any request body), the
    job log or the artifacts;
(b) a PR points the STAC API, S3, pygeoapi and Argo at its own host and makes
    that the default environment; a maintainer comments ``/catalog publish``:
    the job holds the deploy secrets, and no request reaches that host;
(c) a PR rewrites its unprivileged workflow to turn its own report green
    (and to smuggle a mention, an image, a forged marker and a script link);
    the privileged ``workflow_run`` job keeps the required check red and
    posts none of it.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from tests.act_harness import REPO, ActWorld, act_session, act_world  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.actions, pytest.mark.slow]

DATASET = "reef-temperature"
COLLECTION = f"datasets/{DATASET}/collection.jsonnet"
DATAPACKAGE = f"datasets/{DATASET}/datapackage.json"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ARGO_SECRET = "argo-5d8e2b7c1a9f4e3d6b0c"


@pytest.fixture
def world(act_world: ActWorld) -> ActWorld:  # noqa: F811
    return act_world


class HitRecorder:
    """An HTTP listener on loopback that records every request it gets (the attacker's host)."""

    def __init__(self) -> None:
        hits: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _record(self) -> None:
                hits.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _record

        self.hits = hits
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def attacker() -> Iterator[HitRecorder]:
    server = HitRecorder()
    yield server
    server.close()


def forms(secret: str) -> dict[str, str]:
    return {
        "raw": secret,
        "base64": base64.b64encode(secret.encode()).decode().rstrip("="),
        "reversed": secret[::-1],
        "hex": secret.encode().hex(),
    }


def everything_posted(world: ActWorld, log: str) -> str:
    """Every channel out of the job: request bodies to GitHub, comments, check runs, the job log, artifacts."""
    out = [json.dumps(r.body) for r in world.github.requests if r.body is not None]
    out += [json.dumps(c) for n in world.repo.issues for c in world.github.issue_comments(REPO, n)]
    out += [json.dumps(r) for r in world.repo.check_runs.values()]
    out += [p.read_text(errors="replace") for p in world.act.artifacts.rglob("*") if p.is_file()]
    out.append(log)
    return "\n".join(out)


EXFIL_COLLECTION = """local lib = import 'catalog.libsonnet';
local s = std.extVar('a');
lib.collection(
  id='reef-temperature',
  title='Reef water temperature loggers',
  description='Daily water temperature from loggers on the Great Barrier Reef.',
  license='CC-BY-4.0',
  keywords=['temperature', std.base64(s), std.join('', std.reverse(std.stringChars(s))), s],
  providers=[],
  extent=lib.extent([145.46, -23.44, 151.92, -13.89], ['2024-01-01T00:00:00Z', null]),
)
"""


def test_a_readers_check_of_an_exfiltrating_pr_leaks_no_form_of_the_secret(world: ActWorld) -> None:
    """(a) ext_vars: {a: "${AWS_SECRET_ACCESS_KEY}"} + std.base64 in a keyword, then /catalog check by a reader."""
    config = yaml.safe_load(world.show("main", "catalog-bot.yaml"))
    config["environments"]["local"]["ext_vars"] = {"a": "${AWS_SECRET_ACCESS_KEY}"}
    head = world.github.commit_files(
        REPO,
        "exfil",
        {"catalog-bot.yaml": yaml.safe_dump(config).encode(), COLLECTION: EXFIL_COLLECTION.encode()},
        parent=world.main(),
    )
    pr = world.github.open_pr(REPO, "exfil", user="stranger")["number"]
    # The worst case: the runner's environment itself holds the secret (every job sees it).
    world.act.env["AWS_SECRET_ACCESS_KEY"] = AWS_SECRET
    world.act.secrets.update(CATALOG_AWS_SECRET_ACCESS_KEY=AWS_SECRET, ARGO_TOKEN=ARGO_SECRET)
    payload = world.comment_payload(pr, "/catalog check", "rita")

    result = world.act.run("issue_comment", payload, sha=world.main())

    assert result.jobs == {"/catalog command (everyone else)": "succeeded"}, result.output[-4000:]
    # the check ran (so the test is not vacuous): `a` is no ext var of the default branch's configuration
    [check] = [r for r in world.repo.check_runs.values() if r["head_sha"] == head]
    assert check["conclusion"] == "failure"
    [report] = [c for c in world.bot_comments(pr) if "catalog-bot:check" in c]
    assert "undefined external variable: a" in report and "changes configuration (`catalog-bot.yaml`)" in report
    leaked = everything_posted(world, result.output)
    for secret in (AWS_SECRET, ARGO_SECRET):
        for form, text in forms(secret).items():
            assert text not in leaked, f"the {form} form of a secret leaked"


def test_a_maintainers_publish_of_a_pr_never_reaches_the_host_the_pr_names(
    world: ActWorld, attacker: HitRecorder
) -> None:
    """(b) The PR's catalog-bot.yaml points STAC/S3/pygeoapi/Argo at its host and makes prod (Argo) the default."""
    config = yaml.safe_load(world.show("main", "catalog-bot.yaml"))
    evil = attacker.url
    config["default_environment"] = "prod"
    config["environments"]["local"] = {
        "engine": "local",
        "output": "_published",
        "object_store": {"kind": "s3", "endpoint_url": evil, "public_base_url": f"{evil}/public"},
        "stac": {"kind": "api", "url": evil},
        "pygeoapi": {"kind": "api", "url": evil},
    }
    config["environments"]["prod"] = {"engine": "argo", "argo": {"url": evil, "git_url": f"{evil}/catalog.git"}}
    data = json.loads(world.show("main", DATAPACKAGE))
    data["title"] = "Reef temperature, edited next to the configuration"
    world.github.commit_files(
        REPO,
        "evil",
        {
            "catalog-bot.yaml": yaml.safe_dump(config).encode(),
            DATAPACKAGE: (json.dumps(data, indent=2) + "\n").encode(),
        },
        parent=world.main(),
    )
    pr = world.github.open_pr(REPO, "evil", user="stranger")["number"]
    world.act.secrets.update(
        ARGO_TOKEN=ARGO_SECRET,
        CATALOG_AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        CATALOG_AWS_SECRET_ACCESS_KEY=AWS_SECRET,
    )
    payload = world.comment_payload(pr, f"/catalog publish {DATASET}", "mia")

    result = world.act.run("issue_comment", payload, sha=world.main())

    assert result.jobs == {"/catalog command (members)": "succeeded"}, result.output[-5000:]
    reply = world.bot_comments(pr)[-1]
    # the default branch's default environment (`local`, a folder) was used, and the publish ran
    assert "publish to `local`" in reply and f"| `{DATASET}` | local | ✅ succeeded |" in reply, reply
    assert attacker.hits == []


FORGING_WORKFLOW = """name: catalog-bot PR check
on:
  pull_request:
    types: [opened, synchronize, reopened, ready_for_review]
permissions:
  contents: read
jobs:
  check:
    name: check (unprivileged)
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          ref: ${{ github.event.pull_request.head.sha }}
          fetch-depth: 0
          persist-credentials: false
      - uses: catalog-bot/catalog-bot@0000000000000000000000000000000000000000 # catalog-bot release
        continue-on-error: true
        with:
          command: event
          artifact-out: ${{ runner.temp }}/catalog-bot-report
      - name: Turn the verdict green
        if: always()
        run: |
          python3 - "$RUNNER_TEMP/catalog-bot-report/pr-report.json" <<'PY'
          import json, sys
          path = sys.argv[1]
          report = json.load(open(path))
          hostile = ("<!-- catalog-bot:check -->\\n## all good\\n@octo/admins please merge "
                     "![x](https://evil.example/p.png) <!-- catalog-bot:publish --> "
                     "[details](javascript:alert(document.cookie))")
          report.update(conclusion="success", title="all good", errors=0, bodies=[hostile], annotations=[])
          json.dump(report, open(path, "w"))
          PY
      - uses: actions/upload-artifact@b4b15b8c7c6ac21ea08fcf65892d2ee8f75cf882 # v4.4.3
        if: always()
        with:
          name: catalog-bot-report
          path: ${{ runner.temp }}/catalog-bot-report/pr-report.json
"""


def test_a_report_forged_by_a_modified_pr_workflow_keeps_the_check_red(world: ActWorld) -> None:
    """(c) The PR's own workflow (which GitHub runs for pull_request) rewrites the artifact; workflow_run recomputes."""
    data = json.loads(world.show("main", DATAPACKAGE))
    data["access"] = "secret"  # not public|limited: the catalog's profile refuses it
    head = world.github.commit_files(
        REPO,
        "forge",
        {
            ".github/workflows/catalog-bot-pr.yml": FORGING_WORKFLOW.encode(),
            DATAPACKAGE: (json.dumps(data, indent=2) + "\n").encode(),
        },
        parent=world.main(),
    )
    pr = world.github.open_pr(REPO, "forge", user="stranger")["number"]

    forged_run = world.act.run("pull_request", world.pr_payload(pr, "opened"), sha=head, run_id=4242)
    assert "check (unprivileged)" in forged_run.jobs, forged_run.output[-4000:]
    artifact = world.act.artifacts / "4242" / "catalog-bot-report" / "pr-report.json"
    forged = json.loads(artifact.read_text())
    assert forged["conclusion"] == "success" and forged["head_sha"] == head  # the forgery is in place

    payload = world.workflow_run_payload(head, 4242, "success")
    result = world.act.run("workflow_run", payload, sha=world.main())

    assert result.jobs == {"post the PR check": "succeeded"}, result.output[-4000:]
    [check] = world.repo.check_runs.values()
    assert check["head_sha"] == head and check["conclusion"] == "failure"
    assert check["output"]["title"] != "all good"
    [comment] = world.bot_comments(pr)
    assert "access" in comment  # the real verdict, recomputed from the PR's files
    posted = comment + json.dumps(check["output"]) + json.dumps(check.get("annotations"))
    for bad in ("@octo/admins", "evil.example", "javascript:", "all good", "catalog-bot:publish"):
        assert bad not in posted, bad
