"""Route handlers of the GitHub test double, keyed by GitHub's own OpenAPI path templates.

Why keyed by template: the server matches a request against GitHub's
description once (``tests/github_contract.py``) and dispatches on the
operation found, so a route can only exist for an endpoint GitHub has, and
path parameters arrive under GitHub's names.  Lookups that answer 404,
success statuses and GitHub's size limits are written once, below.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tests.github_model import PERMISSION_OF_ROLE, TS, ApiError, RepoState, run_git

if TYPE_CHECKING:
    from tests.github_server import FakeGitHub

REPO = "/repos/{owner}/{repo}"
MAX_COMMENT = 65536
MAX_ANNOTATIONS = 50
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


@dataclass
class Ctx:
    """One request as a handler sees it."""

    params: dict[str, str]
    query: dict[str, str]
    body: Any
    login: str
    status: int = 200
    extra: dict[str, Any] = field(default_factory=dict)

    def num(self, name: str) -> int:
        return int(self.params[name])

    def text(self, name: str) -> str:
        return unquote(self.params[name])


Handler = Callable[["FakeGitHub", RepoState, Ctx], Any]
ROUTES: dict[str, tuple[Handler, int]] = {}  # "METHOD /template" -> (handler, success status)


def route(method: str, suffix: str, status: int = 200) -> Callable[[Handler], Handler]:
    """Register a handler for ``method /repos/{owner}/{repo}<suffix>`` (a template GitHub documents)."""

    def deco(fn: Handler) -> Handler:
        ROUTES[f"{method} {REPO}{suffix}"] = (fn, status)
        return fn

    return deco


# ---------------------------------------------------------------------- shared checks


def _issue(r: RepoState, n: int) -> dict[str, Any]:
    if n not in r.issues:
        raise ApiError(404, "Not Found")
    return r.issues[n]


def _pull(r: RepoState, n: int) -> dict[str, Any]:
    if n not in r.pulls:
        raise ApiError(404, "Not Found")
    return r.pulls[n]


def _found(table: dict[int, dict[str, Any]], key: int) -> dict[str, Any]:
    if key not in table:
        raise ApiError(404, "Not Found")
    return table[key]


def _comment_text(body: dict[str, Any]) -> str:
    text = body.get("body")
    if not isinstance(text, str) or not text:
        raise ApiError(422, "Validation Failed: body is missing")
    if len(text) > MAX_COMMENT:
        raise ApiError(422, f"Validation Failed: body is too long (maximum is {MAX_COMMENT} characters)")
    return text


def _annotations(body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = body.get("output") or {}
    annotations = out.get("annotations", [])
    if len(annotations) > MAX_ANNOTATIONS:
        raise ApiError(422, f"Validation Failed: at most {MAX_ANNOTATIONS} annotations per request")
    return out, list(annotations)


def _commit_sha(s: FakeGitHub, r: RepoState, ref: str) -> str:
    sha = s._try_rev(r, unquote(ref))
    if not sha:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    return sha


def _patch_fields(issue: dict[str, Any], body: dict[str, Any]) -> None:
    for key in ("title", "body", "state"):
        if key in body:
            issue[key] = body[key]


# ---------------------------------------------------------------------- repository, permissions


@route("GET", "")
def _get_repo(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    return s._repo_json(r)


@route("GET", "/collaborators/{username}/permission")
def _permission(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    user = c.text("username")
    role = "admin" if user == r.owner else r.permissions.get(user, "read" if not r.private else "none")
    return {
        "permission": PERMISSION_OF_ROLE[role],
        "role_name": role,
        "user": {**s._user(user), "role_name": role},
    }


# ---------------------------------------------------------------------- issues and comments


@route("GET", "/issues")
def _list_issues(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    state = c.query.get("state", "open")
    labels = {x for x in c.query.get("labels", "").split(",") if x}
    return [
        s._issue_json(r, issue)
        for _n, issue in sorted(r.issues.items(), reverse=True)
        if (state == "all" or issue["state"] == state) and labels <= set(issue["labels"])
    ]


@route("POST", "/issues", status=201)
def _create_issue(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    if not c.body.get("title"):
        raise ApiError(422, "Validation Failed: title is missing")
    labels = [x if isinstance(x, str) else x.get("name", "") for x in c.body.get("labels") or []]
    issue = s._new_issue(r, str(c.body["title"]), c.body.get("body"), c.login, labels)
    return s._issue_json(r, issue)


@route("GET", "/issues/{issue_number}")
def _get_issue(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    return s._issue_json(r, _issue(r, c.num("issue_number")))


@route("PATCH", "/issues/{issue_number}")
def _patch_issue(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    issue = _issue(r, c.num("issue_number"))
    _patch_fields(issue, c.body)
    return s._issue_json(r, issue)


@route("GET", "/issues/{issue_number}/comments")
def _list_comments(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    n = c.num("issue_number")
    return [s._comment_json(r, x) for x in r.comments.values() if x["issue"] == n]


@route("POST", "/issues/{issue_number}/comments", status=201)
def _create_comment(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    return s._comment_json(r, s._new_comment(r, c.num("issue_number"), _comment_text(c.body), c.login))


@route("PATCH", "/issues/comments/{comment_id}")
def _edit_comment(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    comment = _found(r.comments, c.num("comment_id"))
    comment["body"] = _comment_text(c.body)
    return s._comment_json(r, comment)


@route("POST", "/issues/comments/{comment_id}/reactions", status=201)
def _react(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    cid = c.num("comment_id")
    _found(r.comments, cid)
    if c.body.get("content") not in REACTIONS:
        raise ApiError(422, "Validation Failed: content")
    rid = next(s._ids)
    react = {
        "id": rid,
        "node_id": f"RE_{rid}",
        "user": s._user(c.login),
        "content": c.body["content"],
        "created_at": TS,
    }
    r.reactions.setdefault(cid, []).append(react)
    return react


@route("GET", "/issues/comments/{comment_id}/reactions")
def _list_reactions(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    return r.reactions.get(c.num("comment_id"), [])


# ---------------------------------------------------------------------- pull requests


@route("GET", "/pulls")
def _list_pulls(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    state = c.query.get("state", "open")
    head = c.query.get("head", "").split(":")[-1]
    base = c.query.get("base")
    return [
        s._pull_json(r, n, simple=True)
        for n, pr in sorted(r.pulls.items())
        if (state == "all" or r.issues[n]["state"] == state)
        and (not head or pr["head_ref"] == head)
        and (not base or pr["base_ref"] == base)
    ]


@route("POST", "/pulls", status=201)
def _post_pull(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    return s._create_pull(r, c.body, c.login)


@route("GET", "/pulls/{pull_number}")
def _get_pull(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    _pull(r, c.num("pull_number"))
    return s._pull_json(r, c.num("pull_number"))


@route("PATCH", "/pulls/{pull_number}")
def _patch_pull(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    n = c.num("pull_number")
    _pull(r, n)
    _patch_fields(r.issues[n], c.body)
    return s._pull_json(r, n)


@route("GET", "/commits/{commit_sha}/pulls")
def _pulls_for_commit(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    sha = _commit_sha(s, r, c.params["commit_sha"])
    return [
        s._pull_json(r, n, simple=True)
        for n, pr in sorted(r.pulls.items())
        if sha in (s._try_rev(r, f"refs/heads/{pr['head_ref']}") or pr.get("head_sha"), pr.get("merge_commit_sha"))
    ]


# ---------------------------------------------------------------------- commits, compare, contents


@route("GET", "/commits/{ref}")
def _get_commit(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    return s._commit_json(r, _commit_sha(s, r, c.params["ref"]), files=True)


@route("GET", "/compare/{base}...{head}")
def _compare(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    base, head = s._try_rev(r, c.text("base")), s._try_rev(r, c.text("head"))
    if not base or not head:
        raise ApiError(404, "Not Found")
    mb = run_git(r.git_dir, "merge-base", base, head).strip()
    ahead = run_git(r.git_dir, "rev-list", "--reverse", f"{mb}..{head}").split()
    behind = run_git(r.git_dir, "rev-list", f"{mb}..{base}").split()
    status = (
        "identical" if not ahead and not behind else "ahead" if not behind else "behind" if not ahead else "diverged"
    )
    html = f"{s.host}/{r.full_name}/compare/{base}...{head}"
    return {
        "url": f"{s._repo_api(r)}/compare/{base}...{head}",
        "html_url": html,
        "permalink_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "base_commit": s._commit_json(r, base),
        "merge_base_commit": s._commit_json(r, mb),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [s._commit_json(r, x) for x in ahead],
        "files": s._diff_files(r, mb, head),
    }


@route("GET", "/contents/{path}")
def _get_contents(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    path = c.text("path")
    ref = c.query.get("ref") or r.default_branch
    try:
        blob = run_git(r.git_dir, "rev-parse", f"{ref}:{path}").strip()
        kind = run_git(r.git_dir, "cat-file", "-t", blob).strip()
    except subprocess.CalledProcessError:
        raise ApiError(404, "Not Found") from None
    if kind != "blob":
        raise ApiError(404, "Not Found (directory listings are not simulated)")
    data = subprocess.run(
        ["git", "--git-dir", str(r.git_dir), "cat-file", "blob", blob], capture_output=True, check=True
    ).stdout
    api = s._repo_api(r)
    html = f"{s.host}/{r.full_name}/blob/{ref}/{path}"
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(data),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": base64.b64encode(data).decode(),
        "sha": blob,
        "url": f"{api}/contents/{path}?ref={ref}",
        "git_url": f"{api}/git/blobs/{blob}",
        "html_url": html,
        "download_url": None,
        "_links": {"git": f"{api}/git/blobs/{blob}", "html": html, "self": f"{api}/contents/{path}"},
    }


# ---------------------------------------------------------------------- git data API


def _existing_ref(s: FakeGitHub, r: RepoState, c: Ctx, status: int) -> tuple[str, str]:
    ref = "refs/" + c.text("ref")
    sha = s._try_rev(r, ref)
    if not sha:
        raise ApiError(status, "Not Found" if status == 404 else "Reference does not exist")
    return ref, sha


@route("GET", "/git/ref/{ref}")
def _get_ref(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    return s._ref_json(r, *_existing_ref(s, r, c, 404))


@route("POST", "/git/refs", status=201)
def _create_ref(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    ref, sha = c.body["ref"], c.body["sha"]
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    if s._try_rev(r, ref):
        raise ApiError(422, "Reference already exists")
    run_git(r.git_dir, "update-ref", ref, sha)
    return s._ref_json(r, ref, sha)


@route("PATCH", "/git/refs/{ref}")
def _update_ref(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    ref, old = _existing_ref(s, r, c, 422)
    sha = c.body["sha"]
    if not c.body.get("force"):
        try:
            run_git(r.git_dir, "merge-base", "--is-ancestor", old, sha)
        except subprocess.CalledProcessError:
            raise ApiError(422, "Update is not a fast forward") from None
    run_git(r.git_dir, "update-ref", ref, sha)
    return s._ref_json(r, ref, sha)


@route("DELETE", "/git/refs/{ref}", status=204)
def _delete_ref(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    ref, _sha = _existing_ref(s, r, c, 422)
    run_git(r.git_dir, "update-ref", "-d", ref)
    return None


@route("POST", "/git/blobs", status=201)
def _create_blob(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    content = c.body["content"]
    raw = base64.b64decode(content) if c.body.get("encoding") == "base64" else content.encode()
    sha = run_git(r.git_dir, "hash-object", "-w", "--stdin", input=raw).strip()
    return {"url": f"{s._repo_api(r)}/git/blobs/{sha}", "sha": sha}


@route("POST", "/git/trees", status=201)
def _create_tree(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    entries = [
        (item["path"], item["content"].encode() if "content" in item else item.get("sha"))
        for item in c.body.get("tree", [])
    ]
    sha = s._build_tree(r, c.body.get("base_tree"), entries)
    api = s._repo_api(r)
    tree = []
    for line in run_git(r.git_dir, "ls-tree", sha).splitlines():
        meta, path = line.split("\t", 1)
        mode, kind, osha = meta.split()
        tree.append({"path": path, "mode": mode, "type": kind, "sha": osha, "url": f"{api}/git/{kind}s/{osha}"})
    return {"sha": sha, "url": f"{api}/git/trees/{sha}", "truncated": False, "tree": tree}


@route("POST", "/git/commits", status=201)
def _create_git_commit(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    body = c.body
    author = body.get("author") or {"name": c.login, "email": f"{c.login}@users.noreply.github.com"}
    sha = s._commit(r, body["tree"], body.get("parents", []), body["message"], (author["name"], author["email"]))
    return s._git_commit_json(r, sha)


@route("GET", "/git/commits/{commit_sha}")
def _get_git_commit(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    return s._git_commit_json(r, c.params["commit_sha"])


# ---------------------------------------------------------------------- checks and statuses


@route("POST", "/check-runs", status=201)
def _create_check(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    out, annotations = _annotations(c.body)
    run = {"id": next(s._ids), **{k: v for k, v in c.body.items() if k != "output"}}
    run.update(output=out, annotations=annotations)
    r.check_runs[run["id"]] = run
    return s._check_run_json(r, run)


@route("PATCH", "/check-runs/{check_run_id}")
def _update_check(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    run = _found(r.check_runs, c.num("check_run_id"))
    out, annotations = _annotations(c.body)
    run["annotations"].extend(annotations)
    run["output"] = {**run["output"], **{k: v for k, v in out.items() if k != "annotations"}}
    run.update({k: v for k, v in c.body.items() if k != "output"})
    return s._check_run_json(r, run)


@route("POST", "/statuses/{sha}", status=201)
def _create_status(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    st = {"id": next(s._ids), "sha": c.params["sha"], **c.body}
    r.statuses.append(st)
    return s._status_json(r, st)


@route("GET", "/commits/{ref}/statuses")
def _list_statuses(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    sha = s._try_rev(r, c.text("ref"))
    return [s._status_json(r, st) for st in reversed(r.statuses) if st["sha"] == sha]
