"""Real webhook deliveries for tests: load octokit's examples, check them, point them at the double.

Why: events are tested with payloads GitHub actually sends (octokit's
recorded examples and older real captures in ../shared/contracts), not with
hand-written dicts that only carry the fields the bot happens to read.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.github_contract import SHARED

if TYPE_CHECKING:
    from tests.github_model import RepoState
    from tests.github_server import FakeGitHub

WEBHOOKS = SHARED / "contracts" / "github-webhooks"
OCTOKIT = WEBHOOKS / "octokit-webhooks-v7.6.1" / "payload-examples" / "api.github.com"
_SCHEMA: dict[str, Any] = {}


def load_webhook(rel: str) -> dict[str, Any]:
    """A real delivery from the shared contracts (a fresh copy: tests edit it, never the file)."""
    path = OCTOKIT / rel if (OCTOKIT / rel).exists() else WEBHOOKS / rel
    return json.loads(path.read_text(encoding="utf-8"))


def webhook_errors(event: str, payload: dict[str, Any], *, lenient: bool = False) -> list[str]:
    """Schema errors of ``payload`` against octokit's ``<event>$<action>`` definition.

    ``lenient`` ignores missing properties ("required"), for older real
    captures that predate now-required fields.
    """
    import jsonschema

    if not _SCHEMA:
        _SCHEMA.update(json.loads((WEBHOOKS / "octokit-webhooks-schemas-7.6.1" / "schema.json").read_text()))
    action = payload.get("action")
    key = f"{event}${action}" if action else f"{event}$event"
    schema = {**_SCHEMA["definitions"][key], "definitions": _SCHEMA["definitions"]}
    validator = jsonschema.Draft7Validator(schema)
    out = []
    for err in validator.iter_errors(payload):
        if lenient and _only_missing(err):
            continue
        out.append(f"{'/'.join(str(p) for p in err.absolute_path)}: {err.message[:200]}")
    return out


def _only_missing(err: Any) -> bool:
    """True when an error is only about absent properties (in at least one branch of an anyOf/oneOf).

    Also tolerated: ``license`` objects (real deliveries carry ``spdx_id: null``
    for "other" licences, which the schema does not allow; the bot never reads them).
    """
    if err.validator in ("required", "additionalProperties"):
        return True
    if "license" in err.absolute_path:  # real captures carry spdx_id: null for "other" licences
        return True
    if not err.context:
        return False
    branches: dict[Any, list[Any]] = {}
    for sub in err.context:
        branches.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
    return any(all(_only_missing(e) for e in errs) for errs in branches.values())


def adapt(payload: dict[str, Any], repo: RepoState, server: FakeGitHub) -> dict[str, Any]:
    """Point a copied payload at the simulated repository (name, owner, default branch, URLs)."""
    api = server._repo_api(repo)
    for key in ("repository",):
        if isinstance(payload.get(key), dict):
            payload[key].update(
                full_name=repo.full_name,
                name=repo.name,
                default_branch=repo.default_branch,
                url=api,
                html_url=f"{server.host}/{repo.full_name}",
            )
            payload[key]["owner"]["login"] = repo.owner
    return payload


def pr_payload(server: FakeGitHub, repo: RepoState, number: int, action: str, base_sha: str) -> dict[str, Any]:
    """A real ``pull_request`` delivery (opened or synchronize) for PR ``number`` of the simulated repo."""
    rel = "pull_request/synchronize.payload.json" if action == "synchronize" else "pull_request/opened.payload.json"
    p = adapt(load_webhook(rel), repo, server)
    pr = repo.pulls[number]
    p["number"] = number
    p["pull_request"]["number"] = number
    p["pull_request"]["head"].update(sha=server.rev(repo.full_name, pr["head_ref"]), ref=pr["head_ref"])
    p["pull_request"]["base"].update(sha=base_sha, ref=repo.default_branch)
    for side in ("head", "base"):
        p["pull_request"][side]["repo"]["full_name"] = repo.full_name
    assert webhook_errors("pull_request", p) == []
    return p
