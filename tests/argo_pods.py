"""Pods for the Argo test server: run a submitted workflow's steps for real, and count what moves between them.

Why: a rendered WorkflowTemplate is only proven by running it the way Argo
would.  :class:`PodRunner` walks the DAG of a submitted workflow in order and
runs every task's container ``command + args`` (the real ``catalog-bot
step``) as a local process in its own folder, with

- input artifacts resolved like Argo: ``git`` ones cloned (the catalog at the
  ``sha`` parameter), ``from: {{tasks.X.outputs.artifacts.Y}}`` ones unpacked
  from the tar the producing pod left (what an artifact repository holds);
- output artifacts packed as gzipped tar (Argo's ``archive: {tar: {}}``), output parameters read from
  ``valueFrom.path``; ``withParam`` fanned out into one pod per item;
- env from ``env`` / ``envFrom`` resolved against the namespace's secrets;
- absolute paths of the template (``/work``, ``/catalog``) mapped into the
  pod's folder (no container runtime here).

Every pod's record counts the bytes of artifacts it unpacked, the bytes it
packed, and the object-store bytes it read (a :class:`S3Meter` in front of the
real S3 server): the measure of "steps pass references, not data".
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

EXPR = re.compile(r"\{\{([^}]+)\}\}")


@dataclass
class PodRecord:
    """One pod: what ran and the bytes it moved."""

    task: str
    node: str
    returncode: int
    output: str
    artifact_bytes_in: int = 0
    artifact_bytes_out: int = 0
    store_get_bytes: int = 0
    outputs: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)


class S3Meter:
    """A counting reverse proxy in front of an S3 server: bytes of every GET response body.

    The signature stays valid because the ``Host`` header is passed through
    unchanged and bodies are forwarded byte for byte.
    """

    def __init__(self, upstream: str) -> None:
        self.get_bytes = 0
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        target = urlsplit(upstream)
        meter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                if self.command == "GET":
                    with meter._lock:
                        meter.get_bytes += len(data)
                        meter.requests.append((self.command, self.path, len(data)))
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                length_header = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length_header or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> S3Meter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class PodRunner:
    """Runs the pods of workflows; ``records`` per workflow name, in execution order."""

    root: Path
    base_env: dict[str, str]
    cwd: Path  # the pods' working directory (relative output folders resolve here, like a shared volume)
    meter: S3Meter | None = None
    timeout: float = 600.0
    records: dict[str, list[PodRecord]] = field(default_factory=dict)

    def start(self, state: Any, wf: dict[str, Any], finish: Callable[[Any, dict[str, Any]], None]) -> None:
        """Run ``wf`` in a thread; the server answers GETs from the status it updates."""
        threading.Thread(target=self._run, args=(state, wf, finish), daemon=True).start()

    def _run(self, state: Any, wf: dict[str, Any], finish: Callable[[Any, dict[str, Any]], None]) -> None:
        spec = wf["_template"]["spec"]
        templates = {t["name"]: t for t in spec["templates"]}
        tasks = templates[spec["entrypoint"]]["dag"]["tasks"]
        name = wf["metadata"]["name"]
        values = {
            "workflow.name": name,
            "workflow.namespace": wf["metadata"]["namespace"],
            **{f"workflow.parameters.{p['name']}": p.get("value", "") for p in wf["spec"]["arguments"]["parameters"]},
        }
        records = self.records.setdefault(name, [])
        tars: dict[str, dict[str, Path]] = {}
        outputs: dict[str, dict[str, str]] = {}
        ok: set[str] = set()
        failed = False
        for task in tasks:
            if failed or not set(task.get("dependencies", [])) <= ok:
                break
            items: list[Any] = [None]
            if "withParam" in task:
                items = json.loads(_subst(task["withParam"], values, outputs))
            for index, item in enumerate(items):
                node = task["name"] if item is None else f"{task['name']}({index}:{_item_text(item)})"
                self._node(state, wf, node, task["template"], "Running")
                record = self._pod(state, wf, task, templates[task["template"]], node, item, values, outputs, tars)
                records.append(record)
                phase = "Succeeded" if record.returncode == 0 else "Failed"
                self._node(state, wf, node, task["template"], phase, record.output[-400:] if record.returncode else "")
                if record.returncode:
                    failed = True
                    break
            if not failed:
                ok.add(task["name"])
        with state.lock:
            status = wf["status"]
            status["phase"] = "Failed" if failed else "Succeeded"
            status["finishedAt"] = "2026-11-26T00:00:00Z"
            wf["_pending"] = []
            if failed:
                status["message"] = "child failed"
            finish(state, wf)

    def _node(self, state: Any, wf: dict[str, Any], node: str, template: str, phase: str, message: str = "") -> None:
        with state.lock:
            name = wf["metadata"]["name"]
            node_id = f"{name}-{abs(hash(node)) % 10**10}"
            wf["status"]["nodes"][node_id] = {
                "id": node_id,
                "name": f"{name}.{node}",
                "displayName": node,
                "type": "Pod",
                "templateName": template,
                "phase": phase,
                "message": message,
                "startedAt": "2026-11-26T00:00:00Z",
                **({"finishedAt": "2026-11-26T00:00:00Z"} if phase != "Running" else {}),
            }
            done = sum(1 for n in wf["status"]["nodes"].values() if n["phase"] != "Running")
            wf["status"]["progress"] = f"{done}/{len(wf['status']['nodes'])}"

    def _pod(
        self,
        state: Any,
        wf: dict[str, Any],
        task: dict[str, Any],
        template: dict[str, Any],
        node: str,
        item: Any,
        values: dict[str, str],
        outputs: dict[str, dict[str, str]],
        tars: dict[str, dict[str, Path]],
    ) -> PodRecord:
        from tests.argo_server import _pod_env

        pod = self.root / wf["metadata"]["name"] / re.sub(r"[^A-Za-z0-9_.-]", "_", node)
        pod.mkdir(parents=True)
        local = _Mapper(pod, template)
        scope = dict(values)
        if item is not None:
            scope["item"] = item if isinstance(item, str) else json.dumps(item)
        for param in task.get("arguments", {}).get("parameters", []):
            scope[f"inputs.parameters.{param['name']}"] = _subst(param["value"], scope, outputs)
        record = PodRecord(task["name"], node, 0, "")
        given = {a["name"]: a for a in task.get("arguments", {}).get("artifacts", [])}
        for art in template.get("inputs", {}).get("artifacts", []):
            dest = local(art["path"])
            if "git" in art:
                problem = _git_artifact(
                    state, art["git"], _subst(art["git"]["repo"], scope, outputs), dest, scope, outputs
                )
                if problem:
                    return PodRecord(task["name"], node, 1, problem)
                continue
            ref = EXPR.fullmatch(given.get(art["name"], {}).get("from", ""))
            parts = ref.group(1).strip().split(".") if ref else []
            tar = tars.get(parts[1], {}).get(parts[4]) if len(parts) == 5 else None
            if tar is None:
                if art.get("optional"):
                    continue
                return PodRecord(task["name"], node, 1, f"input artifact {art['name']} not found")
            record.artifact_bytes_in += tar.stat().st_size
            dest.mkdir(parents=True, exist_ok=True)
            with tarfile.open(tar) as archive:
                archive.extractall(dest, filter="data")
        container = template["container"]
        argv = [
            local.arg(_subst(a, scope, outputs)) for a in [*container.get("command", []), *container.get("args", [])]
        ]
        env, problem = _pod_env(state, container)
        if problem:
            return PodRecord(task["name"], node, 1, problem)
        record.argv = argv
        before = self.meter.get_bytes if self.meter else 0
        proc = subprocess.run(
            argv, env={**self.base_env, **env}, cwd=self.cwd, capture_output=True, text=True, timeout=self.timeout
        )
        record.store_get_bytes = (self.meter.get_bytes if self.meter else 0) - before
        record.returncode, record.output = proc.returncode, proc.stdout + proc.stderr
        if proc.returncode:
            return record
        packed: dict[str, Path] = {}
        for art in template.get("outputs", {}).get("artifacts", []):
            src = local(art["path"])
            if not src.exists():
                if art.get("optional"):
                    continue
                record.returncode, record.output = 1, f"output artifact {art['name']}: {art['path']} does not exist"
                return record
            tar = pod / f".out-{art['name']}.tgz"
            with tarfile.open(tar, "w:gz") as archive:  # Argo's tar archive strategy gzips (level 6 by default)
                archive.add(src, arcname=".")
            record.artifact_bytes_out += tar.stat().st_size
            packed[art["name"]] = tar
        tars[task["name"]] = packed  # a fanned-out task: the last item's (Argo aggregates parameters only)
        for param in template.get("outputs", {}).get("parameters", []):
            value = local(param["valueFrom"]["path"]).read_text(encoding="utf-8")
            record.outputs[param["name"]] = value
        outputs.setdefault(task["name"], {}).update(record.outputs)
        return record


def _git_artifact(
    state: Any, git: dict[str, Any], repo: str, dest: Path, scope: dict[str, str], outputs: dict[str, dict[str, str]]
) -> str:
    """Clone ``repo`` at ``git.revision`` into ``dest`` like Argo's init container; a problem, or ``""``.

    The credentials' secret keys must exist, as in a cluster: a manifest that
    names the wrong key fails here before anything is cloned.
    """
    for ref in (git.get("usernameSecret"), git.get("passwordSecret")):
        if ref and state.secrets.get(ref["name"], {}).get(ref["key"]) is None:
            return f"couldn't find key {ref['key']} in Secret {ref['name']}"
    revision = _subst(git.get("revision", ""), scope, outputs)
    for argv in (
        ["git", "clone", "-q", "--no-checkout", repo, str(dest)],
        ["git", "-C", str(dest), "checkout", "-q", "--detach", revision or "HEAD"],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return f"failed to load artifacts: git {argv[1]} {revision}: {proc.stderr.strip()[:300]}"
    return ""


class _Mapper:
    """Absolute paths of a template (artifact mounts, ``/work``) -> the pod's folder."""

    def __init__(self, pod: Path, template: dict[str, Any]) -> None:
        self.pod = pod
        paths = [a["path"] for kind in ("inputs", "outputs") for a in template.get(kind, {}).get("artifacts", [])]
        paths += [p["valueFrom"]["path"] for p in template.get("outputs", {}).get("parameters", [])]
        self.roots = {"/" + p.strip("/").split("/", 1)[0] for p in paths}

    def __call__(self, path: str) -> Path:
        return self.pod / path.lstrip("/")

    def arg(self, value: str) -> str:
        head = "/" + value.strip("/").split("/", 1)[0] if value.startswith("/") else ""
        return str(self(value)) if head in self.roots else value


def _item_text(item: Any) -> str:
    return item if isinstance(item, str) else json.dumps(item, sort_keys=True)


def _subst(text: str, scope: dict[str, str], outputs: dict[str, dict[str, str]]) -> str:
    """Argo's ``{{...}}``: workflow/inputs parameters, ``item``, ``tasks.X.outputs.parameters.Y``."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1).strip()
        if key in scope:
            return scope[key]
        parts = key.split(".")
        if len(parts) == 5 and parts[0] == "tasks" and parts[2:4] == ["outputs", "parameters"]:
            return outputs[parts[1]][parts[4]]
        raise KeyError(f"unresolved Argo expression {{{{{key}}}}}")

    return EXPR.sub(one, text)
