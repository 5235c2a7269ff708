"""The GitHub adapter: the only module that talks to the GitHub REST API.

Why a thin layer over PyGithub's ``Requester`` instead of its object graph:
the bot needs a handful of endpoints, a predictable number of calls per event
(the PR handler is budgeted, see docs/performance.md) and one
retry policy for every verb.  PyGithub's own retry does not retry PATCH and
raises ``requests.exceptions.RetryError`` after exhausting; we switch it off
and retry with the shared policy (:mod:`bot.adapters.retry`): 5xx with
exponential backoff + full jitter, primary rate limits (403/429 with
``X-RateLimit-Remaining: 0``) by waiting for ``X-RateLimit-Reset``,
secondary limits by ``Retry-After``.  Whatever is left
becomes a :class:`bot.errors.ServiceError` naming the URL (never the token),
the status and GitHub's message.

Non-idempotent writes (creating a comment) are not blindly retried on 5xx --
GitHub may have stored the first attempt -- callers that need them retried
re-read first (see :meth:`GitHub.upsert_comment`).

``GITHUB_API_URL`` is honoured through :class:`bot.config.Settings`, which
also makes GitHub Enterprise and the local test server work unchanged.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from github import Auth, Github, GithubException

from bot.adapters.retry import parse_rate_limit, retry_call
from bot.config import Settings
from bot.errors import AuthError, ServiceError, UsageError
from bot.logging import get_logger, mask, register_secret

log = get_logger("github")

SERVICE = "GitHub"
MAX_COMMENT_CHARS = 65_536
MAX_ANNOTATIONS_PER_REQUEST = 50
MAX_CHECK_TEXT = 65_535
BOT_NAME = "catalog-bot"
BOT_EMAIL = "catalog-bot@users.noreply.github.com"
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``attempts`` in total, full-jitter backoff from ``base`` capped at ``cap``;
    a rate limit asking for more than ``max_wait`` seconds fails at once."""

    attempts: int = 5
    base: float = 1.0
    cap: float = 30.0
    max_wait: float = 300.0


@dataclass
class GitHub:
    """One repository on one GitHub (or Enterprise, or test) server.

    ``client`` is an injected ``github.Github``; ``calls`` counts HTTP
    requests actually sent (retries included) for budgets and benchmarks.
    """

    client: Github
    repo: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    bot_login: str | None = None
    calls: int = 0
    _default_branch: str | None = None

    @classmethod
    def connect(
        cls,
        settings: Settings,
        repo: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        throttle: bool = True,
        bot_login: str | None = None,
    ) -> GitHub:
        """Build a client from settings (token from ``GITHUB_TOKEN``/``CATALOG_BOT_TOKEN``)."""
        if settings.github_token is None:
            raise UsageError(
                "no GitHub token",
                hint="set GITHUB_TOKEN (in a workflow: env: GITHUB_TOKEN: ${{ github.token }})",
            )
        full_name = repo or settings.github_repository
        if not full_name or "/" not in full_name:
            raise UsageError("no repository given", hint="set GITHUB_REPOSITORY=owner/name or pass --repo")
        token = settings.github_token.get_secret_value()
        register_secret(token)
        kwargs: dict[str, Any] = {}
        if not throttle:
            kwargs.update(seconds_between_requests=0, seconds_between_writes=0)
        client = Github(
            auth=Auth.Token(token),
            base_url=settings.github_api_url.rstrip("/"),
            retry=None,
            per_page=100,
            lazy=True,
            timeout=30,
            **kwargs,
        )
        return cls(client=client, repo=full_name, retry=retry or RetryPolicy(), bot_login=bot_login)

    # ------------------------------------------------------------------ transport
    @property
    def api(self) -> str:
        """Repository API path (relative; PyGithub prefixes the base URL)."""
        return f"/repos/{self.repo}"

    def _url(self, path: str) -> str:
        base = str(getattr(self.client.requester, "base_url", "") or "")
        return f"{base}{path}"

    def request(
        self,
        verb: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        retry_server_errors: bool = True,
    ) -> tuple[dict[str, Any], Any]:
        """One REST call under the shared retry policy (:func:`bot.adapters.retry.retry_call`).

        Rate limits wait as GitHub asks (:func:`~bot.adapters.retry.parse_rate_limit`,
        up to ``retry.max_wait``); 500/502/503/504 and connection failures back
        off with jitter unless ``retry_server_errors`` is off (non-idempotent
        writes).  Returns ``(headers, json)``.
        """
        attempt = 0

        def once() -> tuple[dict[str, Any], Any]:
            nonlocal attempt
            attempt += 1
            self.calls += 1
            try:
                return self.client.requester.requestJsonAndCheck(
                    verb, path, parameters=dict(params) if params else None, input=body
                )
            except GithubException as exc:
                headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
                data = exc.data if isinstance(exc.data, dict) else {}
                message = str(data.get("message") or exc.message or "request failed")
                error = self._error(verb, path, exc.status, message, headers)
                error.retry_after = parse_rate_limit(exc.status, headers, message, now=self.clock(), attempt=attempt)
                raise error from None
            except (
                requests.exceptions.RetryError,
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
            ) as exc:
                raise ServiceError(
                    SERVICE,
                    f"{verb} failed: {type(exc).__name__}: {mask(str(exc))[:300]}",
                    url=self._url(path),
                    transient=True,
                    hint="GitHub is unreachable or overloaded; re-run the job later",
                ) from None

        def worth_retrying(exc: BaseException) -> bool:
            if not isinstance(exc, ServiceError):
                return False
            if exc.retry_after is not None:
                return True  # rate limited: waiting is the cure
            server_side = exc.status is None or exc.status in (500, 502, 503, 504)
            return retry_server_errors and exc.transient and server_side

        return retry_call(
            once,
            service=f"{SERVICE} {verb} {path}",
            attempts=self.retry.attempts,
            base=self.retry.base,
            max_delay=self.retry.cap,
            max_wait=self.retry.max_wait,
            is_transient=worth_retrying,
            sleep=self.sleep,
        )

    def _error(self, verb: str, path: str, status: int, message: str, headers: Mapping[str, str]) -> ServiceError:
        url = self._url(path)
        text = f"{verb} failed: {mask(message)}"
        if status == 401:
            return AuthError(SERVICE, text, url=url, status=status, hint="the token is invalid or expired")
        if status in (403, 429) and (headers.get("x-ratelimit-remaining") == "0" or "rate limit" in message.lower()):
            reset = headers.get("x-ratelimit-reset")
            when = time.strftime("%H:%M:%S UTC", time.gmtime(float(reset))) if reset else "later"
            return ServiceError(
                SERVICE, text, url=url, status=status, transient=True, hint=f"rate limited; the limit resets at {when}"
            )
        if status == 403:
            return AuthError(
                SERVICE,
                text,
                url=url,
                status=status,
                hint="grant the token the permission this call needs (see workflow permissions:)",
            )
        if status >= 500:
            return ServiceError(
                SERVICE, text, url=url, status=status, transient=True, hint="GitHub is failing; re-run the job later"
            )
        return ServiceError(SERVICE, text, url=url, status=status)

    def get(self, path: str, **params: Any) -> Any:
        """GET a repository-relative path (``""`` is the repository itself)."""
        return self.request("GET", self.api + path, params=params or None)[1]

    def paginate(self, path: str, *, limit: int = 2000, **params: Any) -> Iterator[dict[str, Any]]:
        """Iterate a list endpoint across pages (``Link: rel=next``), at most ``limit`` items."""
        page = 1
        seen = 0
        while True:
            headers, data = self.request("GET", self.api + path, params={**params, "per_page": 100, "page": page})
            items = data if isinstance(data, list) else []
            for item in items:
                yield item
                seen += 1
                if seen >= limit:
                    return
            link = headers.get("link") or headers.get("Link") or ""
            if 'rel="next"' not in link or not items:
                return
            page += 1

    # ------------------------------------------------------------------ repository
    def default_branch(self) -> str:
        """The repository's default branch (one call, cached)."""
        if self._default_branch is None:
            self._default_branch = str(self.get("")["default_branch"])
        return self._default_branch

    def set_default_branch(self, name: str) -> None:
        """Seed the cache from an event payload (saves a call)."""
        self._default_branch = name

    def permission(self, login: str) -> str:
        """The user's repository role (none/read/triage/write/maintain/admin) from the collaborator API."""
        try:
            data = self.get(f"/collaborators/{quote(login, safe='')}/permission")
        except ServiceError as exc:
            if exc.status == 404:
                return "none"
            raise
        role = data.get("role_name") or data.get("permission") or "none"
        return str(role)

    def get_file(self, path: str, ref: str) -> bytes | None:
        """A file's bytes at ``ref`` (None when absent)."""
        try:
            data = self.get(f"/contents/{quote(path)}", ref=ref)
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(data, dict) or data.get("type") != "file":
            return None
        return base64.b64decode(data.get("content") or "")

    def branch_sha(self, branch: str) -> str | None:
        """Head commit of a branch, None if it does not exist."""
        try:
            data = self.get(f"/git/ref/heads/{quote(branch)}")
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise
        return str(data["object"]["sha"])

    def get_pull(self, number: int) -> dict[str, Any]:
        """A pull request."""
        return dict(self.get(f"/pulls/{number}"))

    def pulls_for_commit(self, sha: str) -> list[dict[str, Any]]:
        """PRs associated with a commit (the merged PR of a merge commit)."""
        return list(self.paginate(f"/commits/{sha}/pulls"))

    def compare(self, base: str, head: str) -> dict[str, Any]:
        """``base...head`` comparison (commits + files)."""
        return dict(self.get(f"/compare/{quote(base)}...{quote(head)}"))

    # ------------------------------------------------------------------ issues & comments
    def get_issue(self, number: int) -> dict[str, Any]:
        """An issue (or the issue side of a PR)."""
        return dict(self.get(f"/issues/{number}"))

    def edit_issue(self, number: int, **fields: Any) -> dict[str, Any]:
        """PATCH an issue (body, title, state)."""
        return dict(self.request("PATCH", f"{self.api}/issues/{number}", body=fields)[1])

    def list_issues(self, *, labels: str, state: str = "all") -> list[dict[str, Any]]:
        """Issues carrying ``labels`` (comma-separated), e.g. the dataset issues the harvester keeps."""
        return list(self.paginate("/issues", labels=labels, state=state))

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> dict[str, Any]:
        """Open an issue (not retried on 5xx: GitHub may have stored it; callers re-list first)."""
        payload = {"title": title, "body": mask(body), "labels": list(labels)}
        return dict(self.request("POST", f"{self.api}/issues", body=payload, retry_server_errors=False)[1])

    def comments(self, number: int) -> list[dict[str, Any]]:
        """All comments of an issue/PR."""
        return list(self.paginate(f"/issues/{number}/comments"))

    def create_comment(self, number: int, body: str) -> dict[str, Any]:
        """Post a comment (not retried on 5xx: GitHub may have stored it)."""
        body = _fit_comment(mask(body))
        return dict(
            self.request(
                "POST", f"{self.api}/issues/{number}/comments", body={"body": body}, retry_server_errors=False
            )[1]
        )

    def edit_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        """Replace a comment's body."""
        body = _fit_comment(mask(body))
        return dict(self.request("PATCH", f"{self.api}/issues/comments/{comment_id}", body={"body": body})[1])

    def is_own(self, user: Mapping[str, Any] | None) -> bool:
        """Was this written by a bot (our own account or any Bot user)?"""
        if not user:
            return False
        login = str(user.get("login") or "")
        return (
            user.get("type") == "Bot"
            or login.endswith("[bot]")
            or (self.bot_login is not None and login == self.bot_login)
        )

    def find_comment(self, number: int, marker: str) -> dict[str, Any] | None:
        """The first comment carrying ``marker`` written by a bot."""
        for comment in self.comments(number):
            if marker in (comment.get("body") or "") and self.is_own(comment.get("user")):
                return comment
        return None

    def upsert_comment(self, number: int, marker: str, body: str) -> dict[str, Any]:
        """Create or edit in place the one comment holding ``marker`` (never duplicates it).

        A create that fails with a server error is retried only after
        re-reading the comments, so a comment GitHub stored anyway is edited
        rather than posted twice.
        """
        if marker not in body:
            body = f"{marker}\n{body}"

        def read_then_write() -> dict[str, Any]:
            existing = self.find_comment(number, marker)
            if existing is not None:
                if existing.get("body") == _fit_comment(mask(body)):
                    return existing
                return self.edit_comment(int(existing["id"]), body)
            return self.create_comment(number, body)

        return retry_call(
            read_then_write,
            service=f"{SERVICE} comment on #{number}",
            attempts=self.retry.attempts,
            base=self.retry.base,
            max_delay=self.retry.cap,
            max_wait=self.retry.max_wait,
            is_transient=lambda exc: isinstance(exc, ServiceError) and exc.transient,
            sleep=self.sleep,
        )

    def react(self, comment_id: int, content: str) -> None:
        """Add a reaction to a comment (idempotent on GitHub's side)."""
        if content not in REACTIONS:
            raise ValueError(f"unknown reaction {content!r}")
        self.request("POST", f"{self.api}/issues/comments/{comment_id}/reactions", body={"content": content})

    # ------------------------------------------------------------------ checks & statuses
    def create_check_run(
        self,
        *,
        name: str,
        head_sha: str,
        conclusion: str,
        title: str,
        summary: str,
        text: str | None = None,
        annotations: Sequence[Mapping[str, Any]] | None = None,
        details_url: str | None = None,
    ) -> dict[str, Any]:
        """A completed check run; annotations (API shape) are sent in batches of 50, GitHub's limit per request."""
        notes = [dict(a) for a in annotations or []]
        output: dict[str, Any] = {"title": title[:255], "summary": mask(summary)[:MAX_CHECK_TEXT]}
        if text:
            output["text"] = mask(text)[:MAX_CHECK_TEXT]
        first, rest = notes[:MAX_ANNOTATIONS_PER_REQUEST], notes[MAX_ANNOTATIONS_PER_REQUEST:]
        body: dict[str, Any] = {
            "name": name,
            "head_sha": head_sha,
            "status": "completed",
            "conclusion": conclusion,
            "output": {**output, "annotations": first},
        }
        if details_url:
            body["details_url"] = details_url
        run = dict(self.request("POST", f"{self.api}/check-runs", body=body, retry_server_errors=False)[1])
        for i in range(0, len(rest), MAX_ANNOTATIONS_PER_REQUEST):
            batch = rest[i : i + MAX_ANNOTATIONS_PER_REQUEST]
            self.request(
                "PATCH", f"{self.api}/check-runs/{run['id']}", body={"output": {**output, "annotations": batch}}
            )
        return run

    def set_status(
        self, sha: str, state: str, context: str, description: str = "", target_url: str | None = None
    ) -> None:
        """A commit status (``pending``/``success``/``failure``/``error``)."""
        body: dict[str, Any] = {"state": state, "context": context, "description": mask(description)[:140]}
        if target_url:
            body["target_url"] = target_url
        self.request("POST", f"{self.api}/statuses/{sha}", body=body)

    def statuses(self, ref: str) -> list[dict[str, Any]]:
        """Commit statuses of a ref, newest first."""
        return list(self.paginate(f"/commits/{quote(ref)}/statuses", limit=300))

    # ------------------------------------------------------------------ git data
    def create_blob(self, content: bytes) -> str:
        """Store a blob; returns its sha."""
        body = {"content": base64.b64encode(content).decode(), "encoding": "base64"}
        return str(self.request("POST", f"{self.api}/git/blobs", body=body)[1]["sha"])

    def create_tree(self, base_tree: str | None, entries: list[dict[str, Any]]) -> str:
        """A tree from ``base_tree`` plus entries (``sha: None`` deletes a path)."""
        body: dict[str, Any] = {"tree": entries}
        if base_tree:
            body["base_tree"] = base_tree
        return str(self.request("POST", f"{self.api}/git/trees", body=body)[1]["sha"])

    def create_commit(self, message: str, tree: str, parents: list[str]) -> dict[str, Any]:
        """A commit authored by the bot identity (how we later recognise our own commits)."""
        body = {"message": message, "tree": tree, "parents": parents, "author": {"name": BOT_NAME, "email": BOT_EMAIL}}
        return dict(self.request("POST", f"{self.api}/git/commits", body=body)[1])

    def get_commit(self, sha: str) -> dict[str, Any]:
        """A git commit object (tree, parents, author)."""
        return dict(self.get(f"/git/commits/{sha}"))

    def set_branch(self, branch: str, sha: str, *, force: bool) -> None:
        """Create or move ``refs/heads/<branch>``."""
        if self.branch_sha(branch) is None:
            self.request("POST", f"{self.api}/git/refs", body={"ref": f"refs/heads/{branch}", "sha": sha})
        else:
            self.request("PATCH", f"{self.api}/git/refs/heads/{quote(branch)}", body={"sha": sha, "force": force})

    def open_pulls(self, head_branch: str) -> list[dict[str, Any]]:
        """Open PRs whose head is ``owner:head_branch``."""
        owner = self.repo.split("/")[0]
        return list(self.paginate("/pulls", state="open", head=f"{owner}:{head_branch}"))

    def create_pull(self, head: str, base: str, title: str, body: str) -> dict[str, Any]:
        """Open a PR."""
        data = {"head": head, "base": base, "title": title, "body": mask(body)}
        return dict(self.request("POST", f"{self.api}/pulls", body=data, retry_server_errors=False)[1])

    def edit_pull(self, number: int, **fields: Any) -> dict[str, Any]:
        """PATCH a PR (title, body, state)."""
        if "body" in fields:
            fields["body"] = mask(fields["body"])
        return dict(self.request("PATCH", f"{self.api}/pulls/{number}", body=fields)[1])


def _fit_comment(body: str) -> str:
    """Keep a comment under GitHub's limit (callers split at block boundaries first; this is the last guard)."""
    if len(body) <= MAX_COMMENT_CHARS:
        return body
    note = "\n\n_(truncated: the full report is in the job summary)_\n"
    cut = body.rfind("\n\n", 0, MAX_COMMENT_CHARS - len(note))
    return body[: cut if cut > 0 else MAX_COMMENT_CHARS - len(note)] + note


# ---------------------------------------------------------------------- bot pull requests


@dataclass(frozen=True)
class BotPR:
    """Outcome of :func:`open_or_update_bot_pr`."""

    number: int | None
    url: str | None
    action: str  # created | updated | unchanged | closed | blocked | none


def open_or_update_bot_pr(
    repo: GitHub,
    branch: str,
    files: Mapping[str, bytes | None],
    title: str,
    body: str,
    *,
    base: str | None = None,
) -> BotPR:
    """Keep one bot branch + PR per purpose and dataset in step with ``files``.

    ``branch`` is ``catalog-bot/<purpose>/<id>``.  The branch is rebuilt as ONE
    bot commit on top of the current base (force-updated), the PR body is
    rewritten, and the PR is closed when the files no longer differ from the
    base.  If a human pushed to the branch (a commit not authored by the bot)
    it is never overwritten: the bot comments on the PR instead.
    ``files`` maps repository paths to new bytes, or None to delete.
    """
    if not branch.startswith("catalog-bot/") or ".." in branch or branch.endswith("/"):
        raise UsageError(f"bot branch {branch!r} must look like catalog-bot/<purpose>/<id>")
    base = base or repo.default_branch()
    base_sha = repo.branch_sha(base)
    if base_sha is None:
        raise ServiceError(SERVICE, f"base branch {base!r} not found", url=repo._url(repo.api))
    existing = repo.open_pulls(branch)
    pr = existing[0] if existing else None
    branch_sha = repo.branch_sha(branch)

    if branch_sha is not None:
        comparison = repo.compare(base_sha, branch_sha)
        human = [
            c
            for c in comparison.get("commits", [])
            if (c.get("commit", {}).get("author") or {}).get("email") != BOT_EMAIL
        ]
        if human:
            if pr is not None:
                who = ", ".join(sorted({(c["commit"]["author"] or {}).get("name", "?") for c in human}))
                repo.upsert_comment(
                    int(pr["number"]),
                    "<!-- catalog-bot:human-commits -->",
                    f"This branch has commits by {who}, so the bot will not overwrite it.\n\n"
                    f"The bot wanted to update it with:\n\n{body}",
                )
                return BotPR(int(pr["number"]), pr.get("html_url"), "blocked")
            return BotPR(None, None, "blocked")

    base_commit = repo.get_commit(base_sha)
    entries: list[dict[str, Any]] = []
    for path, content in sorted(files.items()):
        if path.startswith("/") or ".." in path.split("/"):
            raise UsageError(f"bot PR file path {path!r} must be relative to the repository root")
        if content is None:
            entries.append({"path": path, "mode": "100644", "type": "blob", "sha": None})
        else:
            entries.append({"path": path, "mode": "100644", "type": "blob", "sha": repo.create_blob(content)})
    tree = repo.create_tree(base_commit["tree"]["sha"], entries)

    if tree == base_commit["tree"]["sha"]:  # nothing differs from the base any more
        if pr is not None:
            repo.upsert_comment(
                int(pr["number"]), "<!-- catalog-bot:closed -->", "Closing: the base branch already has these changes."
            )
            repo.edit_pull(int(pr["number"]), state="closed")
            return BotPR(int(pr["number"]), pr.get("html_url"), "closed")
        return BotPR(None, None, "none")

    if branch_sha is not None and repo.get_commit(branch_sha)["tree"]["sha"] == tree and pr is not None:
        if (pr.get("body") or "") != body or pr.get("title") != title:
            repo.edit_pull(int(pr["number"]), title=title, body=body)
        return BotPR(int(pr["number"]), pr.get("html_url"), "unchanged")

    commit = repo.create_commit(title, tree, [base_sha])
    repo.set_branch(branch, commit["sha"], force=True)
    if pr is None:
        created = repo.create_pull(branch, base, title, body)
        return BotPR(int(created["number"]), created.get("html_url"), "created")
    repo.edit_pull(int(pr["number"]), title=title, body=body)
    return BotPR(int(pr["number"]), pr.get("html_url"), "updated")
