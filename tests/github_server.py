"""A local, stateful stand-in for the GitHub REST API, backed by real git repositories.

Why it exists: GitHub itself cannot run on a test machine (loopback only), yet
the bot's behaviour -- sticky comments, reactions, check runs, statuses, bot
PRs written through the git data API -- is only worth testing end to end.  So
this server implements the small part of the REST API the bot uses, stores
git objects in a REAL bare repository (blobs/trees/commits/refs/compare are
``git`` plumbing, not a dict), and keeps issues, PRs, comments, reactions,
check runs and statuses in memory.

Honesty: every request (method, path, query, JSON body, unknown body fields
forbidden) and every JSON response is validated against GitHub's official
OpenAPI description (``tests/github_contract.py``).  A request GitHub would
not accept -- an endpoint it does not have included -- is answered like
GitHub would (404/422) and recorded in :attr:`FakeGitHub.contract_errors`,
which :func:`running` asserts empty; so is a response that does not match
(answered with HTTP 500).  URLs in responses carry this server's host and
API prefix (``/api/v3`` by default, as on GitHub Enterprise Server) because
PyGithub follows them.

Faults: :meth:`FakeGitHub.inject` makes the next N matching requests fail
with e.g. 502 or a 403 rate-limit answer (with reset headers), to test
retries.

Layout: ``github_contract`` (the OpenAPI judge), ``github_model`` (state and
JSON views), ``github_routes`` (handlers), ``github_webhooks`` (deliveries).
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.github_contract import contract
from tests.github_model import (
    BOT_LOGIN,
    PERMISSION_OF_ROLE,
    TS,
    ApiError,
    Fault,
    GitHubViews,
    RepoState,
    RequestRecord,
    run_git,
)
from tests.github_routes import ROUTES, Ctx
from tests.github_webhooks import adapt, load_webhook, webhook_errors

__all__ = [
    "BOT_LOGIN",
    "PERMISSION_OF_ROLE",
    "TOKEN",
    "TS",
    "ApiError",
    "FakeGitHub",
    "RepoState",
    "adapt",
    "load_webhook",
    "make_client",
    "running",
    "webhook_errors",
]

Answer = tuple[int, Any, dict[str, str]]


class FakeGitHub(GitHubViews):
    """The server: start it, add repositories, point PyGithub at :attr:`base_url`.

    ``prefix`` is where the REST API is mounted: ``/api/v3`` as on GitHub
    Enterprise Server (the default), or ``""`` as on api.github.com.
    """

    def __init__(self, root: Path, prefix: str = "/api/v3") -> None:
        self.root = root
        self.prefix = prefix.rstrip("/")
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
        spec = contract()
        documented = {op.key for op in spec.operations}
        missing = sorted(set(ROUTES) - documented)
        assert not missing, f"routes GitHub does not document: {missing}"
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
        return f"{self.host}{self.prefix}"

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
        return run_git(self.repos[full_name].git_dir, "rev-parse", ref).strip()

    def file_at(self, full_name: str, ref: str, path: str) -> str:
        """The text of ``path`` at ``ref`` in the hosted repository (what a test reads back after the bot pushed)."""
        return run_git(self.repos[full_name].git_dir, "show", f"{ref}:{path}")

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
        run_git(repo.git_dir, "update-ref", f"refs/heads/{branch}", sha)
        self._sync_pull_refs(repo)
        return sha

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
        tree = run_git(repo.git_dir, "merge-tree", "--write-tree", before, head).split()[0]
        after = self._commit(
            repo, tree, [before, head], f"Merge pull request #{number}", ("Merger", "merger@example.org")
        )
        run_git(repo.git_dir, "update-ref", f"refs/heads/{pr['base_ref']}", after)
        pr.update(merged=True, state="closed", merge_commit_sha=after)
        repo.issues[number]["state"] = "closed"
        return before, after

    def add_issue(
        self, full_name: str, title: str, body: str, user: str = "alice", labels: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        repo = self.repos[full_name]
        with self._lock:
            return self._issue_json(repo, self._new_issue(repo, title, body, user, list(labels)))

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

    # ------------------------------------------------------------------ one request
    def answer(self, method: str, path: str, query: dict[str, str], body: Any, auth: str | None) -> Answer:
        """Check a request against GitHub's description, apply faults, run its route, check the response."""
        api_path = path[len(self.prefix) :] if path.startswith(self.prefix + "/") else None
        if api_path is None:
            return self._broken(404, f"{method} {path}: outside the API prefix {self.prefix!r}")
        op, params, problems = contract().request_errors(method, api_path, query, body)
        if op is None or problems:
            return self._broken(404 if op is None else 422, "; ".join(problems))
        late: Fault | None = None
        with self._lock:
            for fault in self.faults:
                if fault.count > 0 and fault.method == method and re.search(fault.path, path):
                    fault.count -= 1
                    if not fault.after:
                        return fault.status, _error(fault.message), dict(fault.headers)
                    late = fault
                    break
        if not auth:
            return 401, _error("Requires authentication"), {}
        route = ROUTES.get(op.key)
        if route is None:
            return self._broken(404, f"{op.key} is a GitHub endpoint this double does not simulate")
        handler, status = route
        repo = self.repos.get(f"{params['owner']}/{params['repo']}")
        if repo is None:
            return 404, _error("Not Found"), {}
        ctx = Ctx(params=params, query=query, body=body if body is not None else {}, login=BOT_LOGIN, status=status)
        headers = {"X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": str(int(time.time()) + 3600)}
        try:
            with self._lock:
                result = handler(self, repo, ctx)
        except ApiError as exc:
            result, ctx.status, headers = _error(exc.message), exc.status, exc.headers
        if isinstance(result, list):
            result, link = _paginate(self, path, query, result)
            if link:
                headers["Link"] = link
        wrong = contract().response_errors(op, ctx.status, result)
        if wrong:
            return self._broken(500, "; ".join(wrong))
        if late is not None:
            return late.status, _error(late.message), dict(late.headers)
        return ctx.status, result, headers

    def _broken(self, status: int, message: str) -> Answer:
        """A contract violation: answered like GitHub would, and recorded for the test to fail on."""
        with self._lock:
            self.contract_errors.append(message)
        return status, _error(message), {}


def _error(message: str) -> dict[str, str]:
    return {"message": message, "documentation_url": "https://docs.github.com/rest"}


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
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            auth = self.headers.get("Authorization")
            status, payload, headers = server.answer(method, parts.path, query, body, auth)
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


# ---------------------------------------------------------------------- fixture helpers

TOKEN = "ghs_t0k3nThatMustNeverLeak0123456789"


def running(tmp_path: Path, prefix: str = "/api/v3") -> Iterator[FakeGitHub]:
    """A running FakeGitHub for a fixture (``yield from``); fails if any request or response broke the contract."""
    (tmp_path / "github").mkdir(exist_ok=True)
    server = FakeGitHub(tmp_path / "github", prefix).start()
    yield server
    server.stop()
    assert not server.contract_errors, server.contract_errors


def make_client(server: FakeGitHub, repo: str, sleeps: list[float] | None = None, **kw: Any) -> Any:
    """The bot's GitHub adapter pointed at the fake server (no throttling, recorded sleeps)."""
    from bot.adapters.github import GitHub
    from bot.config import Secret, Settings

    settings = Settings(github_token=Secret(TOKEN), github_api_url=server.base_url, github_repository=repo)
    gh = GitHub.connect(settings, throttle=False, **kw)
    record = sleeps if sleeps is not None else []
    gh.sleep = record.append
    return gh
