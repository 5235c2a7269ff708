"""State and JSON views of the GitHub test double (see ``tests/github_server.py``).

Why a separate module: the server (HTTP + contract checks), its route
handlers and the objects they share are three concerns; this one holds the
shared part -- repository state kept in REAL bare git repositories, and the
builders of GitHub-shaped JSON for users, repositories, issues, pulls,
comments, check runs, statuses, commits and refs.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def run_git(git_dir: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> str:
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


class GitHubViews:
    """Repository state operations and GitHub-shaped JSON (the server's base class).

    Subclasses provide ``host`` and ``base_url`` (where the API is served).
    """

    users: dict[str, str]
    _ids: itertools.count[int]

    @property
    def host(self) -> str:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        raise NotImplementedError

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
            has_downloads=False,
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
            "assignee": None,
            "assignees": [],
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
            "assignee": None,
            "assignees": [],
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
        """GitHub's ``diff-entry`` list, from ``git diff --raw`` (blob shas) and ``--numstat`` (line counts)."""
        if base is None:
            listing = run_git(repo.git_dir, "ls-tree", "-r", head).splitlines()
            changes = [("A", line.split()[2], line.split("\t", 1)[1]) for line in listing]
            counts: dict[str, tuple[int, int]] = {}
        else:
            raw = run_git(repo.git_dir, "diff", "--raw", "--no-renames", "--no-abbrev", base, head).splitlines()
            changes = []
            for line in raw:
                meta, path = line.split("\t", 1)
                _m1, _m2, old, new, code = meta.split()
                changes.append((code, old if code == "D" else new, path))
            numstat = run_git(repo.git_dir, "diff", "--numstat", "--no-renames", base, head).splitlines()
            counts = {}
            for line in numstat:
                added, deleted, name = line.split("\t", 2)
                counts[name] = (int(added) if added.isdigit() else 0, int(deleted) if deleted.isdigit() else 0)
        status = {"A": "added", "D": "removed", "M": "modified"}
        api = self._repo_api(repo)
        html = f"{self.host}/{repo.full_name}"
        out = []
        for code, blob, path in changes:
            add, dele = counts.get(path, (0, 0))
            out.append(
                {
                    "sha": blob,
                    "filename": path,
                    "status": status.get(code[0], "changed"),
                    "additions": add,
                    "deletions": dele,
                    "changes": add + dele,
                    "blob_url": f"{html}/blob/{head}/{path}",
                    "raw_url": f"{html}/raw/{head}/{path}",
                    "contents_url": f"{api}/contents/{path}?ref={head}",
                }
            )
        return out

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
            return run_git(repo.git_dir, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}").strip() or None
        except subprocess.CalledProcessError:
            return None

    def _commit_info(self, repo: RepoState, sha: str) -> dict[str, Any]:
        try:
            raw = run_git(
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
                run_git(repo.git_dir, "read-tree", base, env=env)
            else:
                run_git(repo.git_dir, "read-tree", "--empty", env=env)
            for path, content in entries:
                if path.startswith("/") or ".." in Path(path).parts:
                    raise ApiError(422, f"invalid tree path {path!r}")
                if content is None:
                    run_git(repo.git_dir, "update-index", "--force-remove", path, env=env)
                    continue
                if isinstance(content, bytes):
                    sha = run_git(repo.git_dir, "hash-object", "-w", "--stdin", input=content).strip()
                else:
                    sha = content
                run_git(repo.git_dir, "update-index", "--add", "--cacheinfo", f"100644,{sha},{path}", env=env)
            return run_git(repo.git_dir, "write-tree", env=env).strip()

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
        return run_git(repo.git_dir, *args, "-m", message, env=env).strip()

    # ------------------------------------------------------------------ state helpers
    def _next_number(self, repo: RepoState) -> int:
        return max(repo.issues, default=0) + 1

    def _new_issue(self, repo: RepoState, title: str, body: str | None, user: str, labels: list[str]) -> dict[str, Any]:
        """Issues and pull requests share one number sequence, as on GitHub."""
        number = self._next_number(repo)
        issue = {"number": number, "title": title, "body": body, "user": user, "state": "open", "labels": labels}
        repo.issues[number] = issue | {"id": next(self._ids)}
        self.users.setdefault(user, "User")
        return repo.issues[number]

    def _new_comment(self, repo: RepoState, number: int, body: str, user: str) -> dict[str, Any]:
        if number not in repo.issues:
            raise ApiError(404, "Not Found")
        cid = next(self._ids)
        c: dict[str, Any] = {"id": cid, "issue": number, "body": body, "user": user}
        repo.comments[cid] = c
        return c

    def _create_pull(self, repo: RepoState, body: dict[str, Any], user: str) -> dict[str, Any]:
        head = body["head"].split(":")[-1]
        base = body.get("base") or repo.default_branch
        if not self._try_rev(repo, f"refs/heads/{head}"):
            raise ApiError(422, f"Validation Failed: head {head} does not exist")
        for n, pr in repo.pulls.items():
            if pr["head_ref"] == head and pr["base_ref"] == base and repo.issues[n]["state"] == "open":
                raise ApiError(422, f"Validation Failed: A pull request already exists for {repo.owner}:{head}.")
        number = self._new_issue(repo, body.get("title", ""), body.get("body"), user, [])["number"]
        repo.pulls[number] = {"head_ref": head, "base_ref": base}
        self._sync_pull_refs(repo)
        self.users.setdefault(user, "User")
        return self._pull_json(repo, number)

    def _sync_pull_refs(self, repo: RepoState) -> None:
        """Keep ``refs/pull/N/head`` at each open PR's head, as GitHub does."""
        for n, pr in repo.pulls.items():
            sha = self._try_rev(repo, f"refs/heads/{pr['head_ref']}")
            if sha:
                run_git(repo.git_dir, "update-ref", f"refs/pull/{n}/head", sha)
