"""A local, stateful stand-in for the GitHub REST API, backed by real git repositories.

Why it exists: GitHub itself cannot run on a test machine (loopback only), yet
the bot's behaviour -- sticky comments, reactions, check runs, statuses, bot
PRs written through the git data API -- is only worth testing end to end.  So
this server implements the small part of the REST API the bot uses, stores
git objects in a REAL bare repository (blobs/trees/commits/refs/compare are
``git`` plumbing, not a dict), and keeps issues, PRs, comments, reactions,
check runs and statuses in memory.

Honesty: every JSON response is validated against the githubkit models
(generated from GitHub's own OpenAPI description) before it is sent; a
response that would not match the real API is answered with HTTP 500 and
recorded in :attr:`FakeGitHub.contract_errors`, which tests assert empty.
URLs in responses carry this server's host and the ``/api/v3`` prefix because
PyGithub follows them.

Faults: :meth:`FakeGitHub.inject` makes the next N matching requests fail
with e.g. 502 or a 403 rate-limit answer (with reset headers), to test
retries.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from githubkit_schemas.latest import models as gk
from pydantic import TypeAdapter

TS = "2026-01-01T00:00:00Z"
BOT_LOGIN = "catalog-bot[bot]"
PERMISSION_OF_ROLE = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}


def _run_git(git_dir: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> str:
    full_env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
        **(env or {}),
    }
    out = subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], input=input, capture_output=True, check=True, env=full_env
    )
    return out.stdout.decode()


class ApiError(Exception):
    """An error answer (status + GitHub-style message body)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Fault:
    """Fail the next ``count`` requests matching ``method`` + ``path`` regex."""

    method: str
    path: str
    status: int
    count: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "Server Error"
    after: bool = False  # True: the request IS processed, then the error is returned (a lost response)


@dataclass
class RequestRecord:
    """One request the server saw (for counting and for grepping secrets)."""

    method: str
    path: str
    query: str
    body: Any
    status: int
    authorization: str | None


@dataclass
class RepoState:
    """One simulated repository."""

    owner: str
    name: str
    git_dir: Path
    default_branch: str = "main"
    id: int = 1
    private: bool = False
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)  # number -> issue (PRs included)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)  # number -> PR fields
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    reactions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # comment id -> reactions
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    permissions: dict[str, str] = field(default_factory=dict)  # login -> role name

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class FakeGitHub:
    """The server: start it, add repositories, point PyGithub at :attr:`base_url`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repos: dict[str, RepoState] = {}
        self.requests: list[RequestRecord] = []
        self.contract_errors: list[str] = []
        self.faults: list[Fault] = []
        self.users: dict[str, str] = {BOT_LOGIN: "Bot", "github-actions[bot]": "Bot"}
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeGitHub:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.host}/api/v3"

    # ------------------------------------------------------------------ test setup helpers
    def add_repo(self, full_name: str, source: Path | None = None, default_branch: str = "main") -> RepoState:
        """Create a repository; ``source`` (a git work tree) is pushed into it with all branches."""
        owner, name = full_name.split("/")
        git_dir = self.root / f"{owner}__{name}.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", default_branch, str(git_dir)], check=True)
        if source is not None:
            subprocess.run(
                ["git", "-C", str(source), "push", "-q", str(git_dir), "--all"], check=True, capture_output=True
            )
        state = RepoState(owner, name, git_dir, default_branch, id=next(self._ids))
        self.repos[full_name] = state
        self.users.setdefault(owner, "User")
        return state

    def set_permission(self, full_name: str, login: str, role: str) -> None:
        self.repos[full_name].permissions[login] = role
        self.users.setdefault(login, "User")

    def inject(self, method: str, path: str, status: int, count: int = 1, **kw: Any) -> Fault:
        fault = Fault(method, path, status, count, **kw)
        self.faults.append(fault)
        return fault

    def rev(self, full_name: str, ref: str) -> str:
        return _run_git(self.repos[full_name].git_dir, "rev-parse", ref).strip()

    def commit_files(
        self,
        full_name: str,
        branch: str,
        files: dict[str, bytes | None],
        message: str = "change",
        author: tuple[str, str] = ("Human", "human@example.org"),
        parent: str | None = None,
    ) -> str:
        """Simulate a ``git push`` of one commit changing ``files`` on ``branch``."""
        repo = self.repos[full_name]
        base = parent or self._try_rev(repo, f"refs/heads/{branch}")
        tree = self._build_tree(repo, base, [(p, c) for p, c in files.items()])
        sha = self._commit(repo, tree, [base] if base else [], message, author)
        _run_git(repo.git_dir, "update-ref", f"refs/heads/{branch}", sha)
        self._sync_pull_refs(repo)
        return sha

    def _sync_pull_refs(self, repo: RepoState) -> None:
        """Keep ``refs/pull/N/head`` at each open PR's head, as GitHub does."""
        for n, pr in repo.pulls.items():
            sha = self._try_rev(repo, f"refs/heads/{pr['head_ref']}")
            if sha:
                _run_git(repo.git_dir, "update-ref", f"refs/pull/{n}/head", sha)

    def open_pr(
        self, full_name: str, head: str, base: str | None = None, title: str = "PR", user: str = "alice", body: str = ""
    ) -> dict[str, Any]:
        repo = self.repos[full_name]
        with self._lock:
            return self._create_pull(
                repo, {"head": head, "base": base or repo.default_branch, "title": title, "body": body}, user
            )

    def merge_pr(self, full_name: str, number: int) -> tuple[str, str]:
        """Merge a PR with a merge commit; returns ``(before, after)`` of the base branch."""
        repo = self.repos[full_name]
        pr = repo.pulls[number]
        before = self.rev(full_name, f"refs/heads/{pr['base_ref']}")
        head = self.rev(full_name, f"refs/heads/{pr['head_ref']}")
        tree = _run_git(repo.git_dir, "merge-tree", "--write-tree", before, head).split()[0]
        after = self._commit(
            repo, tree, [before, head], f"Merge pull request #{number}", ("Merger", "merger@example.org")
        )
        _run_git(repo.git_dir, "update-ref", f"refs/heads/{pr['base_ref']}", after)
        pr.update(merged=True, state="closed", merge_commit_sha=after)
        repo.issues[number]["state"] = "closed"
        return before, after

    def add_issue(
        self, full_name: str, title: str, body: str, user: str = "alice", labels: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        repo = self.repos[full_name]
        with self._lock:
            number = self._next_number(repo)
            issue = {
                "number": number,
                "title": title,
                "body": body,
                "user": user,
                "state": "open",
                "labels": list(labels),
                "id": next(self._ids),
            }
            repo.issues[number] = issue
            self.users.setdefault(user, "User")
            return self._issue_json(repo, issue)

    def add_comment(self, full_name: str, number: int, body: str, user: str = "alice") -> dict[str, Any]:
        repo = self.repos[full_name]
        self.users.setdefault(user, "User")
        with self._lock:
            return self._comment_json(repo, self._new_comment(repo, number, body, user))

    def issue_comments(self, full_name: str, number: int) -> list[dict[str, Any]]:
        repo = self.repos[full_name]
        return [c for c in repo.comments.values() if c["issue"] == number]

    def reactions_of(self, full_name: str, comment_id: int) -> list[str]:
        return [r["content"] for r in self.repos[full_name].reactions.get(comment_id, [])]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method) and (path is None or re.search(path, r.path))
        )

    # ------------------------------------------------------------------ JSON builders
    def _user(self, login: str) -> dict[str, Any]:
        kind = self.users.get(login, "User")
        uid = abs(hash(login)) % 10_000_000
        api = f"{self.base_url}/users/{login}"
        return {
            "login": login,
            "id": uid,
            "node_id": f"U_{uid}",
            "avatar_url": f"{self.host}/avatars/{login}",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.host}/{login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": kind,
            "site_admin": False,
        }

    def _repo_api(self, repo: RepoState) -> str:
        return f"{self.base_url}/repos/{repo.full_name}"

    def _repo_json(self, repo: RepoState) -> dict[str, Any]:
        api = self._repo_api(repo)
        html = f"{self.host}/{repo.full_name}"
        urls = (  # noqa: SIM905
            "archive assignees blobs branches collaborators comments commits compare contents contributors deployments "
            "downloads events forks git_commits git_refs git_tags issue_comment issue_events issues keys labels languages "
            "merges milestones notifications pulls releases stargazers statuses subscribers subscription tags teams trees hooks"
        ).split()
        data: dict[str, Any] = {f"{u}_url": f"{api}/{u.replace('_', '/')}" for u in urls}
        data.update(
            id=repo.id,
            node_id=f"R_{repo.id}",
            name=repo.name,
            full_name=repo.full_name,
            owner=self._user(repo.owner),
            private=repo.private,
            html_url=html,
            description="catalog",
            fork=False,
            url=api,
            git_url=f"git://127.0.0.1/{repo.full_name}.git",
            ssh_url=f"git@127.0.0.1:{repo.full_name}.git",
            clone_url=str(repo.git_dir),
            svn_url=html,
            mirror_url=None,
            homepage=None,
            language=None,
            forks_count=0,
            forks=0,
            stargazers_count=0,
            watchers_count=0,
            watchers=0,
            size=1,
            default_branch=repo.default_branch,
            open_issues_count=0,
            open_issues=0,
            has_issues=True,
            has_projects=False,
            has_wiki=False,
            has_pages=False,
            has_discussions=False,
            archived=False,
            disabled=False,
            pushed_at=TS,
            created_at=TS,
            updated_at=TS,
            subscribers_count=0,
            network_count=0,
            license=None,
        )
        return data

    def _issue_json(self, repo: RepoState, issue: dict[str, Any]) -> dict[str, Any]:
        api = self._repo_api(repo)
        n = issue["number"]
        data = {
            "id": issue["id"],
            "node_id": f"I_{issue['id']}",
            "url": f"{api}/issues/{n}",
            "repository_url": api,
            "labels_url": f"{api}/issues/{n}/labels{{/name}}",
            "comments_url": f"{api}/issues/{n}/comments",
            "events_url": f"{api}/issues/{n}/events",
            "html_url": f"{self.host}/{repo.full_name}/issues/{n}",
            "number": n,
            "state": issue["state"],
            "title": issue["title"],
            "body": issue["body"],
            "user": self._user(issue["user"]),
            "labels": [self._label(repo, name) for name in issue["labels"]],
            "milestone": None,
            "locked": False,
            "comments": sum(1 for c in repo.comments.values() if c["issue"] == n),
            "closed_at": None if issue["state"] == "open" else TS,
            "created_at": TS,
            "updated_at": TS,
            "author_association": "MEMBER",
        }
        if n in repo.pulls:
            data["pull_request"] = {
                "url": f"{api}/pulls/{n}",
                "html_url": f"{self.host}/{repo.full_name}/pull/{n}",
                "diff_url": f"{self.host}/{repo.full_name}/pull/{n}.diff",
                "patch_url": f"{self.host}/{repo.full_name}/pull/{n}.patch",
            }
        return data

    def _label(self, repo: RepoState, name: str) -> dict[str, Any]:
        lid = abs(hash(name)) % 1_000_000
        return {
            "id": lid,
            "node_id": f"L_{lid}",
            "url": f"{self._repo_api(repo)}/labels/{name}",
            "name": name,
            "description": None,
            "color": "ededed",
            "default": False,
        }

    def _pull_json(self, repo: RepoState, number: int, simple: bool = False) -> dict[str, Any]:
        pr = repo.pulls[number]
        issue = repo.issues[number]
        api = self._repo_api(repo)
        html = f"{self.host}/{repo.full_name}/pull/{number}"
        head_sha = self._try_rev(repo, f"refs/heads/{pr['head_ref']}") or pr.get("head_sha", "0" * 40)
        pr["head_sha"] = head_sha
        base_sha = self._try_rev(repo, f"refs/heads/{pr['base_ref']}") or "0" * 40
        repo_json = self._repo_json(repo)

        def side(ref: str, sha: str) -> dict[str, Any]:
            return {
                "label": f"{repo.owner}:{ref}",
                "ref": ref,
                "sha": sha,
                "user": self._user(repo.owner),
                "repo": repo_json,
            }

        data: dict[str, Any] = {
            "url": f"{api}/pulls/{number}",
            "id": issue["id"],
            "node_id": f"PR_{issue['id']}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{api}/issues/{number}",
            "commits_url": f"{api}/pulls/{number}/commits",
            "review_comments_url": f"{api}/pulls/{number}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{api}/issues/{number}/comments",
            "statuses_url": f"{api}/statuses/{head_sha}",
            "number": number,
            "state": issue["state"],
            "locked": False,
            "title": issue["title"],
            "user": self._user(issue["user"]),
            "body": issue["body"],
            "labels": [self._label(repo, name) for name in issue["labels"]],
            "milestone": None,
            "created_at": TS,
            "updated_at": TS,
            "closed_at": None if issue["state"] == "open" else TS,
            "merged_at": TS if pr.get("merged") else None,
            "merge_commit_sha": pr.get("merge_commit_sha"),
            "head": side(pr["head_ref"], head_sha),
            "base": side(pr["base_ref"], base_sha),
            "_links": {
                k: {"href": v}
                for k, v in {
                    "self": f"{api}/pulls/{number}",
                    "html": html,
                    "issue": f"{api}/issues/{number}",
                    "comments": f"{api}/issues/{number}/comments",
                    "review_comments": f"{api}/pulls/{number}/comments",
                    "review_comment": f"{api}/pulls/comments{{/number}}",
                    "commits": f"{api}/pulls/{number}/commits",
                    "statuses": f"{api}/statuses/{head_sha}",
                }.items()
            },
            "author_association": "MEMBER",
            "auto_merge": None,
            "draft": False,
        }
        if not simple:
            data.update(
                merged=bool(pr.get("merged")),
                mergeable=None,
                mergeable_state="unknown",
                merged_by=self._user("merger") if pr.get("merged") else None,
                comments=0,
                review_comments=0,
                maintainer_can_modify=False,
                commits=1,
                additions=0,
                deletions=0,
                changed_files=0,
            )
        return data

    def _comment_json(self, repo: RepoState, c: dict[str, Any]) -> dict[str, Any]:
        api = self._repo_api(repo)
        return {
            "id": c["id"],
            "node_id": f"IC_{c['id']}",
            "url": f"{api}/issues/comments/{c['id']}",
            "html_url": f"{self.host}/{repo.full_name}/issues/{c['issue']}#issuecomment-{c['id']}",
            "body": c["body"],
            "user": self._user(c["user"]),
            "created_at": TS,
            "updated_at": TS,
            "issue_url": f"{api}/issues/{c['issue']}",
            "author_association": "MEMBER",
        }

    def _check_run_json(self, repo: RepoState, run: dict[str, Any]) -> dict[str, Any]:
        api = self._repo_api(repo)
        out = run.get("output") or {}
        return {
            "id": run["id"],
            "head_sha": run["head_sha"],
            "node_id": f"CR_{run['id']}",
            "external_id": run.get("external_id"),
            "url": f"{api}/check-runs/{run['id']}",
            "html_url": f"{self.host}/{repo.full_name}/runs/{run['id']}",
            "details_url": run.get("details_url"),
            "status": run.get("status", "queued"),
            "conclusion": run.get("conclusion"),
            "started_at": TS,
            "completed_at": TS if run.get("status") == "completed" else None,
            "output": {
                "title": out.get("title"),
                "summary": out.get("summary"),
                "text": out.get("text"),
                "annotations_count": len(run.get("annotations", [])),
                "annotations_url": f"{api}/check-runs/{run['id']}/annotations",
            },
            "name": run["name"],
            "check_suite": {"id": 1},
            "app": None,
            "pull_requests": [],
        }

    def _status_json(self, repo: RepoState, st: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{self._repo_api(repo)}/statuses/{st['sha']}",
            "avatar_url": None,
            "id": st["id"],
            "node_id": f"S_{st['id']}",
            "state": st["state"],
            "description": st.get("description"),
            "target_url": st.get("target_url"),
            "context": st.get("context", "default"),
            "created_at": TS,
            "updated_at": TS,
            "creator": self._user(BOT_LOGIN),
        }

    def _git_commit_json(self, repo: RepoState, sha: str) -> dict[str, Any]:
        info = self._commit_info(repo, sha)
        api = self._repo_api(repo)
        return {
            "sha": sha,
            "node_id": f"C_{sha[:10]}",
            "url": f"{api}/git/commits/{sha}",
            "html_url": f"{self.host}/{repo.full_name}/commit/{sha}",
            "author": {"name": info["an"], "email": info["ae"], "date": info["ad"]},
            "committer": {"name": info["cn"], "email": info["ce"], "date": info["cd"]},
            "message": info["message"],
            "tree": {"sha": info["tree"], "url": f"{api}/git/trees/{info['tree']}"},
            "parents": [
                {"sha": p, "url": f"{api}/git/commits/{p}", "html_url": f"{self.host}/{repo.full_name}/commit/{p}"}
                for p in info["parents"]
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    def _commit_json(self, repo: RepoState, sha: str, files: bool = False) -> dict[str, Any]:
        info = self._commit_info(repo, sha)
        api = self._repo_api(repo)
        data: dict[str, Any] = {
            "url": f"{api}/commits/{sha}",
            "sha": sha,
            "node_id": f"C_{sha[:10]}",
            "html_url": f"{self.host}/{repo.full_name}/commit/{sha}",
            "comments_url": f"{api}/commits/{sha}/comments",
            "commit": {
                "url": f"{api}/git/commits/{sha}",
                "author": {"name": info["an"], "email": info["ae"], "date": info["ad"]},
                "committer": {"name": info["cn"], "email": info["ce"], "date": info["cd"]},
                "message": info["message"],
                "comment_count": 0,
                "tree": {"sha": info["tree"], "url": f"{api}/git/trees/{info['tree']}"},
            },
            "author": None,
            "committer": None,
            "parents": [{"sha": p, "url": f"{api}/commits/{p}"} for p in info["parents"]],
        }
        if files:
            base = info["parents"][0] if info["parents"] else None
            data["files"] = self._diff_files(repo, base, sha)
        return data

    def _diff_files(self, repo: RepoState, base: str | None, head: str) -> list[dict[str, Any]]:
        if base is None:
            out = _run_git(repo.git_dir, "ls-tree", "-r", "--name-only", head)
            changes = [("A", p) for p in out.splitlines()]
        else:
            out = _run_git(repo.git_dir, "diff", "--name-status", "--no-renames", base, head)
            changes = [tuple(line.split("\t", 1)) for line in out.splitlines() if line]
        status = {"A": "added", "D": "removed", "M": "modified"}
        api = self._repo_api(repo)
        return [
            {
                "sha": None,
                "filename": path,
                "status": status.get(code[0], "changed"),
                "additions": 0,
                "deletions": 0,
                "changes": 0,
                "blob_url": None,
                "raw_url": None,
                "contents_url": f"{api}/contents/{path}?ref={head}",
            }
            for code, path in changes
        ]

    def _ref_json(self, repo: RepoState, ref: str, sha: str) -> dict[str, Any]:
        api = self._repo_api(repo)
        return {
            "ref": ref,
            "node_id": f"REF_{abs(hash(ref)) % 100000}",
            "url": f"{api}/git/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{api}/git/commits/{sha}"},
        }

    # ------------------------------------------------------------------ git plumbing
    def _try_rev(self, repo: RepoState, ref: str) -> str | None:
        try:
            return _run_git(repo.git_dir, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}").strip() or None
        except subprocess.CalledProcessError:
            return None

    def _commit_info(self, repo: RepoState, sha: str) -> dict[str, Any]:
        try:
            raw = _run_git(
                repo.git_dir, "show", "-s", "--format=%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B", sha
            )
        except subprocess.CalledProcessError:
            raise ApiError(404, "No commit found for SHA: " + sha) from None
        t, p, an, ae, ad, cn, ce, cd, msg = raw.split("\x00", 8)
        return {
            "tree": t,
            "parents": p.split(),
            "an": an,
            "ae": ae,
            "ad": ad,
            "cn": cn,
            "ce": ce,
            "cd": cd,
            "message": msg.rstrip("\n"),
        }

    def _build_tree(self, repo: RepoState, base: str | None, entries: list[tuple[str, Any]]) -> str:
        """Apply ``(path, bytes|sha-str|None)`` changes on top of ``base`` (a commit or tree) -> tree sha."""
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if base:
                _run_git(repo.git_dir, "read-tree", base, env=env)
            else:
                _run_git(repo.git_dir, "read-tree", "--empty", env=env)
            for path, content in entries:
                if path.startswith("/") or ".." in Path(path).parts:
                    raise ApiError(422, f"invalid tree path {path!r}")
                if content is None:
                    _run_git(repo.git_dir, "update-index", "--force-remove", path, env=env)
                    continue
                if isinstance(content, bytes):
                    sha = _run_git(repo.git_dir, "hash-object", "-w", "--stdin", input=content).strip()
                else:
                    sha = content
                _run_git(repo.git_dir, "update-index", "--add", "--cacheinfo", f"100644,{sha},{path}", env=env)
            return _run_git(repo.git_dir, "write-tree", env=env).strip()

    def _commit(self, repo: RepoState, tree: str, parents: list[str], message: str, author: tuple[str, str]) -> str:
        args = ["commit-tree", tree]
        for p in parents:
            args += ["-p", p]
        env = {
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": author[0],
            "GIT_COMMITTER_EMAIL": author[1],
        }
        return _run_git(repo.git_dir, *args, "-m", message, env=env).strip()

    # ------------------------------------------------------------------ state helpers
    def _next_number(self, repo: RepoState) -> int:
        return max(repo.issues, default=0) + 1

    def _new_comment(self, repo: RepoState, number: int, body: str, user: str) -> dict[str, Any]:
        if number not in repo.issues:
            raise ApiError(404, "Not Found")
        c = {"id": next(self._ids), "issue": number, "body": body, "user": user}
        repo.comments[c["id"]] = c
        return c

    def _create_pull(self, repo: RepoState, body: dict[str, Any], user: str) -> dict[str, Any]:
        head = body["head"].split(":")[-1]
        base = body.get("base") or repo.default_branch
        if not self._try_rev(repo, f"refs/heads/{head}"):
            raise ApiError(422, f"Validation Failed: head {head} does not exist")
        for n, pr in repo.pulls.items():
            if pr["head_ref"] == head and pr["base_ref"] == base and repo.issues[n]["state"] == "open":
                raise ApiError(422, f"Validation Failed: A pull request already exists for {repo.owner}:{head}.")
        number = self._next_number(repo)
        repo.issues[number] = {
            "number": number,
            "title": body.get("title", ""),
            "body": body.get("body"),
            "user": user,
            "state": "open",
            "labels": [],
            "id": next(self._ids),
        }
        repo.pulls[number] = {"head_ref": head, "base_ref": base}
        self._sync_pull_refs(repo)
        self.users.setdefault(user, "User")
        return self._pull_json(repo, number)


# ---------------------------------------------------------------------- routing

Route = tuple[str, re.Pattern[str], Callable[..., Any], Any]
ROUTES: list[Route] = []
_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def route(method: str, pattern: str, model: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a handler; ``model`` is the githubkit type its responses must match (None: no body)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        ROUTES.append(
            (method, re.compile("^/api/v3/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)" + pattern + "$"), fn, model)
        )
        return fn

    return deco


def _validate(model: Any, body: Any) -> None:
    if model is None:
        return
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    adapter.validate_python(body)


Ctx = dict[str, Any]


@route("GET", "", gk.FullRepository)
def _get_repo(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    return s._repo_json(r)


@route("GET", "/collaborators/(?P<user>[^/]+)/permission", gk.RepositoryCollaboratorPermission)
def _permission(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    user = unquote(c["user"])
    role = r.permissions.get(user, "read" if not r.private else "none")
    if user == r.owner:
        role = "admin"
    return {
        "permission": PERMISSION_OF_ROLE[role],
        "role_name": role,
        "user": {**s._user(user), "permissions": None} | {"role_name": role},
    }


@route("GET", "/issues", list[gk.Issue])
def _list_issues(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    q = c["query"]
    state = q.get("state", "open")
    labels = {x for x in q.get("labels", "").split(",") if x}
    out = []
    for _n, issue in sorted(r.issues.items(), reverse=True):
        if state != "all" and issue["state"] != state:
            continue
        if labels and not labels <= set(issue["labels"]):
            continue
        out.append(s._issue_json(r, issue))
    return out


@route("POST", "/issues", gk.Issue)
def _create_issue(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    body = c["body"]
    if not body.get("title"):
        raise ApiError(422, "Validation Failed: title is missing")
    number = s._next_number(r)
    labels = [x if isinstance(x, str) else x.get("name", "") for x in body.get("labels") or []]
    r.issues[number] = {
        "number": number,
        "title": body["title"],
        "body": body.get("body"),
        "user": c["login"],
        "state": "open",
        "labels": labels,
        "id": next(s._ids),
    }
    c["status"] = 201
    return s._issue_json(r, r.issues[number])


@route("GET", "/issues/(?P<n>\\d+)", gk.Issue)
def _get_issue(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    n = int(c["n"])
    if n not in r.issues:
        raise ApiError(404, "Not Found")
    return s._issue_json(r, r.issues[n])


@route("PATCH", "/issues/(?P<n>\\d+)", gk.Issue)
def _patch_issue(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    n = int(c["n"])
    if n not in r.issues:
        raise ApiError(404, "Not Found")
    for key in ("title", "body", "state"):
        if key in c["body"]:
            r.issues[n][key] = c["body"][key]
    return s._issue_json(r, r.issues[n])


@route("GET", "/issues/(?P<n>\\d+)/comments", list[gk.IssueComment])
def _list_comments(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    n = int(c["n"])
    return [s._comment_json(r, x) for x in r.comments.values() if x["issue"] == n]


@route("POST", "/issues/(?P<n>\\d+)/comments", gk.IssueComment)
def _create_comment(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    body = c["body"].get("body")
    if not isinstance(body, str) or not body:
        raise ApiError(422, "Validation Failed: body is missing")
    if len(body) > 65536:
        raise ApiError(422, "Validation Failed: body is too long (maximum is 65536 characters)")
    c["status"] = 201
    return s._comment_json(r, s._new_comment(r, int(c["n"]), body, c["login"]))


@route("PATCH", "/issues/comments/(?P<id>\\d+)", gk.IssueComment)
def _edit_comment(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    cid = int(c["id"])
    if cid not in r.comments:
        raise ApiError(404, "Not Found")
    body = c["body"].get("body", "")
    if len(body) > 65536:
        raise ApiError(422, "Validation Failed: body is too long (maximum is 65536 characters)")
    r.comments[cid]["body"] = body
    return s._comment_json(r, r.comments[cid])


@route("POST", "/issues/comments/(?P<id>\\d+)/reactions", gk.Reaction)
def _react(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    cid = int(c["id"])
    if cid not in r.comments:
        raise ApiError(404, "Not Found")
    content = c["body"].get("content")
    if content not in ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"):
        raise ApiError(422, "Validation Failed: content")
    react = {"id": next(s._ids), "node_id": "RE_1", "user": s._user(c["login"]), "content": content, "created_at": TS}
    r.reactions.setdefault(cid, []).append(react)
    c["status"] = 201
    return react


@route("GET", "/issues/comments/(?P<id>\\d+)/reactions", list[gk.Reaction])
def _list_reactions(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    return r.reactions.get(int(c["id"]), [])


@route("GET", "/pulls", list[gk.PullRequestSimple])
def _list_pulls(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    q = c["query"]
    state = q.get("state", "open")
    head = q.get("head", "").split(":")[-1]
    out = []
    for n, pr in sorted(r.pulls.items()):
        if state != "all" and r.issues[n]["state"] != state:
            continue
        if head and pr["head_ref"] != head:
            continue
        if q.get("base") and pr["base_ref"] != q["base"]:
            continue
        out.append(s._pull_json(r, n, simple=True))
    return out


@route("POST", "/pulls", gk.PullRequest)
def _post_pull(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    c["status"] = 201
    return s._create_pull(r, c["body"], c["login"])


@route("GET", "/pulls/(?P<n>\\d+)", gk.PullRequest)
def _get_pull(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    n = int(c["n"])
    if n not in r.pulls:
        raise ApiError(404, "Not Found")
    return s._pull_json(r, n)


@route("PATCH", "/pulls/(?P<n>\\d+)", gk.PullRequest)
def _patch_pull(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    n = int(c["n"])
    if n not in r.pulls:
        raise ApiError(404, "Not Found")
    for key in ("title", "body", "state"):
        if key in c["body"]:
            r.issues[n][key] = c["body"][key]
    return s._pull_json(r, n)


@route("GET", "/commits/(?P<sha>[^/]+)/pulls", list[gk.PullRequestSimple])
def _pulls_for_commit(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    sha = s._try_rev(r, c["sha"])
    if not sha:
        raise ApiError(422, "No commit found for SHA")
    out = []
    for n, pr in sorted(r.pulls.items()):
        head = s._try_rev(r, f"refs/heads/{pr['head_ref']}") or pr.get("head_sha")
        if sha in (head, pr.get("merge_commit_sha")):
            out.append(s._pull_json(r, n, simple=True))
    return out


@route("GET", "/commits/(?P<sha>[^/]+)", gk.Commit)
def _get_commit(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    sha = s._try_rev(r, unquote(c["sha"]))
    if not sha:
        raise ApiError(422, "No commit found for SHA")
    return s._commit_json(r, sha, files=True)


@route("GET", "/compare/(?P<base>[^.]+)\\.\\.\\.(?P<head>.+)", gk.CommitComparison)
def _compare(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    base, head = s._try_rev(r, unquote(c["base"])), s._try_rev(r, unquote(c["head"]))
    if not base or not head:
        raise ApiError(404, "Not Found")
    mb = _run_git(r.git_dir, "merge-base", base, head).strip()
    ahead = _run_git(r.git_dir, "rev-list", "--reverse", f"{mb}..{head}").split()
    behind = _run_git(r.git_dir, "rev-list", f"{mb}..{base}").split()
    status = (
        "identical" if not ahead and not behind else "ahead" if not behind else "behind" if not ahead else "diverged"
    )
    api = s._repo_api(r)
    return {
        "url": f"{api}/compare/{base}...{head}",
        "html_url": f"{s.host}/{r.full_name}/compare/{base}...{head}",
        "permalink_url": f"{s.host}/{r.full_name}/compare/{base}...{head}",
        "diff_url": f"{s.host}/{r.full_name}/compare/{base}...{head}.diff",
        "patch_url": f"{s.host}/{r.full_name}/compare/{base}...{head}.patch",
        "base_commit": s._commit_json(r, base),
        "merge_base_commit": s._commit_json(r, mb),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [s._commit_json(r, x) for x in ahead],
        "files": s._diff_files(r, mb, head),
    }


@route("GET", "/contents/(?P<path>.+)", gk.ContentFile)
def _get_contents(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    path = unquote(c["path"])
    ref = c["query"].get("ref") or r.default_branch
    try:
        blob = _run_git(r.git_dir, "rev-parse", f"{ref}:{path}").strip()
        kind = _run_git(r.git_dir, "cat-file", "-t", blob).strip()
    except subprocess.CalledProcessError:
        raise ApiError(404, "Not Found") from None
    if kind != "blob":
        raise ApiError(404, "Not Found (directory listings are not simulated)")
    data = subprocess.run(
        ["git", "--git-dir", str(r.git_dir), "cat-file", "blob", blob], capture_output=True, check=True
    ).stdout
    api = s._repo_api(r)
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
        "html_url": f"{s.host}/{r.full_name}/blob/{ref}/{path}",
        "download_url": None,
        "_links": {
            "git": f"{api}/git/blobs/{blob}",
            "html": f"{s.host}/{r.full_name}/blob/{ref}/{path}",
            "self": f"{api}/contents/{path}",
        },
    }


@route("GET", "/git/ref/(?P<ref>.+)", gk.GitRef)
def _get_ref(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    ref = "refs/" + unquote(c["ref"])
    sha = s._try_rev(r, ref)
    if not sha:
        raise ApiError(404, "Not Found")
    return s._ref_json(r, ref, sha)


@route("POST", "/git/refs", gk.GitRef)
def _create_ref(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    ref, sha = c["body"]["ref"], c["body"]["sha"]
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    if s._try_rev(r, ref):
        raise ApiError(422, "Reference already exists")
    _run_git(r.git_dir, "update-ref", ref, sha)
    c["status"] = 201
    return s._ref_json(r, ref, sha)


@route("PATCH", "/git/refs/(?P<ref>.+)", gk.GitRef)
def _update_ref(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    ref = "refs/" + unquote(c["ref"])
    old = s._try_rev(r, ref)
    if not old:
        raise ApiError(422, "Reference does not exist")
    sha = c["body"]["sha"]
    if not c["body"].get("force"):
        try:
            _run_git(r.git_dir, "merge-base", "--is-ancestor", old, sha)
        except subprocess.CalledProcessError:
            raise ApiError(422, "Update is not a fast forward") from None
    _run_git(r.git_dir, "update-ref", ref, sha)
    return s._ref_json(r, ref, sha)


@route("DELETE", "/git/refs/(?P<ref>.+)", None)
def _delete_ref(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    ref = "refs/" + unquote(c["ref"])
    if not s._try_rev(r, ref):
        raise ApiError(422, "Reference does not exist")
    _run_git(r.git_dir, "update-ref", "-d", ref)
    c["status"] = 204
    return None


@route("POST", "/git/blobs", gk.ShortBlob)
def _create_blob(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    body = c["body"]
    raw = base64.b64decode(body["content"]) if body.get("encoding") == "base64" else body["content"].encode()
    sha = _run_git(r.git_dir, "hash-object", "-w", "--stdin", input=raw).strip()
    c["status"] = 201
    return {"url": f"{s._repo_api(r)}/git/blobs/{sha}", "sha": sha}


@route("POST", "/git/trees", gk.GitTree)
def _create_tree(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    body = c["body"]
    entries: list[tuple[str, Any]] = []
    for item in body.get("tree", []):
        if "content" in item:
            entries.append((item["path"], item["content"].encode()))
        else:
            entries.append((item["path"], item.get("sha")))
    sha = s._build_tree(r, body.get("base_tree"), entries)
    c["status"] = 201
    listing = _run_git(r.git_dir, "ls-tree", sha).splitlines()
    api = s._repo_api(r)
    tree = []
    for line in listing:
        meta, path = line.split("\t", 1)
        mode, kind, osha = meta.split()
        tree.append({"path": path, "mode": mode, "type": kind, "sha": osha, "url": f"{api}/git/{kind}s/{osha}"})
    return {"sha": sha, "url": f"{api}/git/trees/{sha}", "truncated": False, "tree": tree}


@route("POST", "/git/commits", gk.GitCommit)
def _create_git_commit(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    body = c["body"]
    author = body.get("author") or {"name": c["login"], "email": f"{c['login']}@users.noreply.github.com"}
    sha = s._commit(r, body["tree"], body.get("parents", []), body["message"], (author["name"], author["email"]))
    c["status"] = 201
    return s._git_commit_json(r, sha)


@route("GET", "/git/commits/(?P<sha>[0-9a-f]{40})", gk.GitCommit)
def _get_git_commit(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    return s._git_commit_json(r, c["sha"])


@route("POST", "/check-runs", gk.CheckRun)
def _create_check(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    body = c["body"]
    out = body.get("output") or {}
    annotations = out.get("annotations", [])
    if len(annotations) > 50:
        raise ApiError(422, "Validation Failed: at most 50 annotations per request")
    run = {
        "id": next(s._ids),
        **{k: v for k, v in body.items() if k != "output"},
        "output": out,
        "annotations": list(annotations),
    }
    r.check_runs[run["id"]] = run
    c["status"] = 201
    return s._check_run_json(r, run)


@route("PATCH", "/check-runs/(?P<id>\\d+)", gk.CheckRun)
def _update_check(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    run = r.check_runs.get(int(c["id"]))
    if run is None:
        raise ApiError(404, "Not Found")
    body = c["body"]
    out = body.get("output") or {}
    annotations = out.get("annotations", [])
    if len(annotations) > 50:
        raise ApiError(422, "Validation Failed: at most 50 annotations per request")
    run["annotations"].extend(annotations)
    run["output"] = {**run["output"], **{k: v for k, v in out.items() if k != "annotations"}}
    run.update({k: v for k, v in body.items() if k != "output"})
    return s._check_run_json(r, run)


@route("POST", "/statuses/(?P<sha>[0-9a-f]{40})", gk.Status)
def _create_status(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    body = c["body"]
    if body.get("state") not in ("error", "failure", "pending", "success"):
        raise ApiError(422, "Validation Failed: state")
    st = {"id": next(s._ids), "sha": c["sha"], **body}
    r.statuses.append(st)
    c["status"] = 201
    return s._status_json(r, st)


@route("GET", "/commits/(?P<ref>[^/]+)/statuses", list[gk.Status])
def _list_statuses(s: FakeGitHub, r: RepoState, c: Ctx) -> Any:
    sha = s._try_rev(r, unquote(c["ref"]))
    return [s._status_json(r, st) for st in reversed(r.statuses) if st["sha"] == sha]


def _make_handler(server: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {"_raw": raw.decode(errors="replace")}
            auth = self.headers.get("Authorization")
            status, payload, headers = self._dispatch(method, parts.path, query, body, auth)
            with server._lock:
                server.requests.append(RequestRecord(method, parts.path, parts.query, body, status, auth))
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _dispatch(
            self, method: str, path: str, query: dict[str, str], body: Any, auth: str | None
        ) -> tuple[int, Any, dict[str, str]]:
            late: Fault | None = None
            with server._lock:
                for fault in server.faults:
                    if fault.count > 0 and fault.method == method and re.search(fault.path, path):
                        fault.count -= 1
                        if fault.after:
                            late = fault
                            break
                        return (
                            fault.status,
                            {"message": fault.message, "documentation_url": "https://docs.github.com/rest"},
                            dict(fault.headers),
                        )
            if not auth:
                return 401, {"message": "Requires authentication"}, {}
            login = BOT_LOGIN
            for method_, pattern, fn, model in ROUTES:
                if method_ != method:
                    continue
                m = pattern.match(path)
                if not m:
                    continue
                groups = m.groupdict()
                repo = server.repos.get(f"{groups['owner']}/{groups['repo']}")
                if repo is None:
                    return 404, {"message": "Not Found"}, {}
                ctx: Ctx = {**groups, "query": query, "body": body, "login": login, "status": 200}
                try:
                    with server._lock:
                        result = fn(server, repo, ctx)
                except ApiError as exc:
                    return (
                        exc.status,
                        {"message": exc.message, "documentation_url": "https://docs.github.com/rest"},
                        exc.headers,
                    )
                try:
                    _validate(model, result)
                except Exception as exc:
                    msg = f"{method} {path}: response does not match {model}: {exc}"
                    server.contract_errors.append(msg)
                    return 500, {"message": msg}, {}
                headers: dict[str, str] = {
                    "X-RateLimit-Remaining": "4999",
                    "X-RateLimit-Reset": str(int(time.time()) + 3600),
                }
                if isinstance(result, list):
                    result, link = _paginate(server, path, query, result)
                    if link:
                        headers["Link"] = link
                if late is not None:
                    return late.status, {"message": late.message}, dict(late.headers)
                return ctx["status"], result, headers
            return 404, {"message": f"Not Found (not simulated: {method} {path})"}, {}

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


def _paginate(server: FakeGitHub, path: str, query: dict[str, str], items: list[Any]) -> tuple[list[Any], str | None]:
    per_page = min(int(query.get("per_page", 30)), 100)
    page = int(query.get("page", 1))
    chunk = items[(page - 1) * per_page : page * per_page]
    if page * per_page < len(items):
        q = {**query, "page": str(page + 1), "per_page": str(per_page)}
        qs = "&".join(f"{k}={v}" for k, v in q.items())
        return chunk, f'<{server.host}{path}?{qs}>; rel="next"'
    return chunk, None


# ---------------------------------------------------------------------- webhook payloads for tests

SHARED = Path(os.environ.get("CATALOG_BOT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
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


# ---------------------------------------------------------------------- fixture helpers

TOKEN = "ghs_t0k3nThatMustNeverLeak0123456789"


def running(tmp_path: Path) -> Iterator[FakeGitHub]:
    """A running FakeGitHub for a fixture (``yield from``); fails if any response broke the REST contract."""
    (tmp_path / "github").mkdir(exist_ok=True)
    server = FakeGitHub(tmp_path / "github").start()
    yield server
    server.stop()
    assert not server.contract_errors, server.contract_errors


def make_client(server: FakeGitHub, repo: str, sleeps: list[float] | None = None, **kw: Any) -> Any:
    """The bot's GitHub adapter pointed at the fake server (no throttling, recorded sleeps)."""
    from pydantic import SecretStr

    from bot.adapters.github import GitHub
    from bot.config import Settings

    settings = Settings(github_token=SecretStr(TOKEN), github_api_url=server.base_url, github_repository=repo)
    gh = GitHub.connect(settings, throttle=False, **kw)
    record = sleeps if sleeps is not None else []
    gh.sleep = record.append
    return gh
