"""A local Argo Server test double, honest to the official contract.

Argo needs Kubernetes, which cannot run here.  This server implements the
endpoints the bot uses (lint/create/get/update WorkflowTemplate, submit from
a template, get, stop) and checks **every request body and every response
body** against the definitions in Argo's own ``swagger.json`` (the mirror in
``shared/contracts``), closing object definitions so unknown fields fail.
A contract violation answers 400 and is recorded in ``violations`` so tests
can assert there were none.

Workflows advance one DAG node per GET, so ``--wait`` sees real progress; a
step named in ``fail_step`` fails with a message, like a failed pod.  With
:attr:`ArgoState.pods` set, the steps run for real instead: every task's
container (``catalog-bot step``) as a local process with its artifacts,
parameters and ``withParam`` fan-out resolved like Argo, and the bytes moved
between steps counted (``tests/argo_pods.py``).

Exit handlers run for real: when a workflow ends (all steps done, a step
failed, or stopped), the template named by ``spec.onExit`` is executed as a
local process -- its container ``command + args`` with Argo's variables
(``{{workflow.name|namespace|status|failures|parameters.X}}``) substituted
and its ``env``/``envFrom`` resolved from :attr:`ArgoState.secrets` the way
Kubernetes does (a missing non-optional key means the pod never starts).  So
a rendered manifest that mounts the token under the wrong name fails here as
it would in a cluster.  A workflow DELETEd mid-run never runs its handler,
as in Argo.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jsonschema import Draft4Validator

from tests.argo_pods import PodRunner

P = "io.argoproj.workflow.v1alpha1."


def _closed(defs: dict[str, Any]) -> dict[str, Any]:
    defs = copy.deepcopy(defs)
    defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
    for name, d in defs.items():
        if (
            d.get("type") == "object"
            and "properties" in d
            and not name.startswith("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        ):
            d.setdefault("additionalProperties", False)
    return defs


class ArgoContract:
    """Validators for request/response bodies from swagger.json."""

    def __init__(self, swagger_path: Path) -> None:
        swagger = json.loads(swagger_path.read_text(encoding="utf-8"))
        self.defs = _closed(swagger["definitions"])

    def errors(self, definition: str, body: Any) -> list[str]:
        """Schema errors of ``body`` against ``#/definitions/<definition>``."""
        validator = Draft4Validator({"$ref": f"#/definitions/{definition}", "definitions": self.defs})
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]


class ArgoState:
    """Templates and workflows held by the test server."""

    def __init__(self, token: str, namespace: str = "argo") -> None:
        self.token = token
        self.namespace = namespace
        self.templates: dict[str, dict[str, Any]] = {}
        self.workflows: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.violations: list[str] = []
        self.fail_step: str | None = None
        self.fail_next: list[int] = []  # HTTP statuses to answer before serving normally
        self.lock = threading.Lock()
        # Kubernetes secrets of the namespace (name -> key -> value) for exit handler env.
        self.secrets: dict[str, dict[str, str]] = {}
        # Environment every exit-handler process starts from (PATH, HOME...); None: no exit handlers run.
        self.exit_base_env: dict[str, str] | None = None
        self.exit_runs: list[ExitRun] = []
        # Runs the steps' pods for real (tests/argo_pods.py); None: nodes advance one per GET without running.
        self.pods: PodRunner | None = None


@dataclass(frozen=True)
class ExitRun:
    """One exit-handler execution: what ran, with which env names, and how it ended."""

    workflow: str
    status: str
    args: list[str]
    env_names: list[str]
    returncode: int
    output: str


def _now() -> str:
    return "2026-11-26T00:00:00Z"


def _new_workflow(state: ArgoState, template: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    name = (options.get("generateName") or template["metadata"]["name"] + "-") + uuid.uuid4().hex[:5]
    params = {p.split("=", 1)[0]: p.split("=", 1)[1] for p in options.get("parameters", [])}
    declared = {p["name"]: p.get("value") for p in template["spec"].get("arguments", {}).get("parameters", [])}
    labels = dict(item.split("=", 1) for item in options["labels"].split(",")) if options.get("labels") else {}
    labels["workflows.argoproj.io/workflow-template"] = template["metadata"]["name"]
    spec = template["spec"]
    dag_tpl = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])
    tasks = dag_tpl["dag"]["tasks"]
    return {
        "metadata": {
            "name": name,
            "namespace": state.namespace,
            "uid": str(uuid.uuid4()),
            "labels": labels,
            "creationTimestamp": _now(),
            "resourceVersion": "1",
        },
        "spec": {
            "workflowTemplateRef": {"name": template["metadata"]["name"]},
            "arguments": {"parameters": [{"name": k, "value": params.get(k, v or "")} for k, v in declared.items()]},
            "serviceAccountName": options.get("serviceAccount") or spec.get("serviceAccountName", "default"),
        },
        "status": {"phase": "Running", "startedAt": _now(), "nodes": {}, "progress": f"0/{len(tasks)}"},
        "_pending": [t["name"] for t in tasks],
        "_template": template,
    }


def _advance(state: ArgoState, wf: dict[str, Any]) -> None:
    """Run one more node; fail the one named ``fail_step``."""
    status = wf["status"]
    if status["phase"] != "Running" or not wf["_pending"] or state.pods is not None:
        return
    step = wf["_pending"].pop(0)
    node_id = f"{wf['metadata']['name']}-{abs(hash(step)) % 10**10}"
    failed = step == state.fail_step
    message = "Error (exit code 1): step schema-gate failed: data schema changed" if failed else ""
    status["nodes"][node_id] = {
        "id": node_id,
        "name": f"{wf['metadata']['name']}.{step}",
        "displayName": step,
        "type": "Pod",
        "templateName": step,
        "phase": "Failed" if failed else "Succeeded",
        "message": message,
        "startedAt": _now(),
        "finishedAt": _now(),
    }
    done = len(status["nodes"])
    status["progress"] = f"{done}/{done + len(wf['_pending'])}"
    if failed:
        status["phase"] = "Failed"
        status["message"] = f"child '{node_id}' failed"
        status["finishedAt"] = _now()
    elif not wf["_pending"]:
        status["phase"] = "Succeeded"
        status["finishedAt"] = _now()
    if status["phase"] != "Running":
        _finish(state, wf)


def _finish(state: ArgoState, wf: dict[str, Any]) -> None:
    """Mark a workflow completed and run its ``onExit`` template (once)."""
    wf["metadata"]["labels"]["workflows.argoproj.io/completed"] = "true"
    spec = wf["_template"]["spec"]
    if state.exit_base_env is None or not spec.get("onExit") or wf.get("_exited"):
        return
    wf["_exited"] = True
    handler = next(t for t in spec["templates"] if t["name"] == spec["onExit"])
    container = handler["container"]
    values = _values(wf)
    argv = [_subst(a, values) for a in [*container.get("command", []), *container.get("args", [])]]
    env, problem = _pod_env(state, container)
    if problem:  # the kubelet refuses to start the container: CreateContainerConfigError
        state.exit_runs.append(ExitRun(values["workflow.name"], values["workflow.status"], argv, [], -1, problem))
        return
    proc = subprocess.run(
        argv, env={**state.exit_base_env, **env}, capture_output=True, text=True, timeout=120, check=False
    )
    state.exit_runs.append(
        ExitRun(
            values["workflow.name"],
            values["workflow.status"],
            argv,
            sorted(env),
            proc.returncode,
            proc.stdout + proc.stderr,
        )
    )


def _values(wf: dict[str, Any]) -> dict[str, str]:
    """Argo's template variables for a workflow (``workflow.*``)."""
    return {
        "workflow.name": wf["metadata"]["name"],
        "workflow.namespace": wf["metadata"]["namespace"],
        "workflow.status": wf["status"]["phase"],
        "workflow.failures": json.dumps(
            [
                {
                    "displayName": n["displayName"],
                    "message": n.get("message", ""),
                    "templateName": n["templateName"],
                    "phase": n["phase"],
                    "podName": n["id"],
                    "finishedAt": n.get("finishedAt", ""),
                }
                for n in wf["status"]["nodes"].values()
                if n["phase"] in ("Failed", "Error")
            ]
        ),
        **{f"workflow.parameters.{p['name']}": p.get("value", "") for p in wf["spec"]["arguments"]["parameters"]},
    }


def _subst(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{\{([^}]+)\}\}", lambda m: values.get(m.group(1).strip(), m.group(0)), text)


def _pod_env(state: ArgoState, container: dict[str, Any]) -> tuple[dict[str, str], str]:
    """Resolve ``envFrom`` and ``env`` like Kubernetes; returns (env, problem)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("secretRef", {})
        secret = state.secrets.get(ref.get("name", ""))
        if secret is None:
            if not ref.get("optional"):
                return {}, f'secret "{ref.get("name")}" not found'
            continue
        env.update(secret)
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item.get("valueFrom", {}).get("secretKeyRef", {})
        value = state.secrets.get(ref.get("name", ""), {}).get(ref.get("key", ""))
        if value is None:
            if not ref.get("optional"):
                return {}, f"couldn't find key {ref.get('key')} in Secret {ref.get('name')}"
            continue
        env[item["name"]] = value
    return env, ""


def _matches(labels: dict[str, str], selector: str) -> bool:
    """Kubernetes equality-based label selector (``a=b,c!=d``)."""
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        else:
            key, value = term.split("=", 1)
            if labels.get(key) != value:
                return False
    return True


def _public(wf: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in wf.items() if not k.startswith("_")}


class _Handler(BaseHTTPRequestHandler):
    state: ArgoState
    contract: ArgoContract

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, body: Any, definition: str | None = None) -> None:
        if definition and status == 200:
            errs = self.contract.errors(definition, body)
            if errs:
                self.state.violations.append(f"response {definition}: {errs[:3]}")
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(
            status,
            {"code": {400: 3, 401: 16, 403: 7, 404: 5, 409: 6}.get(status, 13), "message": message, "error": message},
        )

    def _body(self, definition: str) -> Any | None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._error(400, "invalid JSON")
            return None
        errs = self.contract.errors(definition, body)
        if errs:
            self.state.violations.append(f"request {definition}: {errs[:3]}")
            self._error(400, f"request does not match {definition}: {errs[0]}")
            return None
        return body

    def _route(self, method: str) -> None:
        st = self.state
        with st.lock:
            st.requests.append((method, self.path, None))
            if st.fail_next:
                status = st.fail_next.pop(0)
                self._error(status, "upstream unavailable" if status >= 500 else "denied")
                return
        if self.headers.get("Authorization") != f"Bearer {st.token}":
            self._error(401, "token not valid for the server")
            return
        path = self.path.split("?", 1)[0]
        m = re.fullmatch(r"/api/v1/(workflow-templates|workflows)/([^/]+)(?:/([^/]+))?(?:/([^/]+))?", path)
        if not m or m.group(2) != st.namespace:
            self._error(404, f"no route {method} {path}")
            return
        kind, _, name, action = m.groups()
        with st.lock:
            if kind == "workflow-templates":
                self._templates(method, name, action)
            else:
                self._workflows(method, name, action)

    def _templates(self, method: str, name: str | None, action: str | None) -> None:
        st = self.state
        if method == "POST" and name == "lint":
            body = self._body(P + "WorkflowTemplateLintRequest")
            if body is not None:
                self._send(200, body["template"], P + "WorkflowTemplate")
        elif method == "POST" and name is None:
            body = self._body(P + "WorkflowTemplateCreateRequest")
            if body is None:
                return
            tpl = copy.deepcopy(body["template"])
            tname = tpl["metadata"]["name"]
            if tname in st.templates:
                self._error(409, f'workflowtemplates.argoproj.io "{tname}" already exists')
                return
            tpl["metadata"].update(namespace=st.namespace, resourceVersion="1", uid=str(uuid.uuid4()))
            st.templates[tname] = tpl
            self._send(200, tpl, P + "WorkflowTemplate")
        elif method == "GET" and name:
            if name not in st.templates:
                self._error(404, f'workflowtemplates.argoproj.io "{name}" not found')
            else:
                self._send(200, st.templates[name], P + "WorkflowTemplate")
        elif method == "PUT" and name:
            body = self._body(P + "WorkflowTemplateUpdateRequest")
            if body is None:
                return
            tpl = copy.deepcopy(body["template"])
            old = st.templates.get(name)
            version = int(old["metadata"]["resourceVersion"]) + 1 if old else 1
            tpl["metadata"].update(namespace=st.namespace, resourceVersion=str(version))
            st.templates[name] = tpl
            self._send(200, tpl, P + "WorkflowTemplate")
        else:
            self._error(404, "not implemented in the test server")

    def _workflows(self, method: str, name: str | None, action: str | None) -> None:
        st = self.state
        wf: dict[str, Any] | None
        if method == "POST" and name == "submit":
            body = self._body(P + "WorkflowSubmitRequest")
            if body is None:
                return
            if body.get("resourceKind") != "WorkflowTemplate" or body.get("resourceName") not in st.templates:
                self._error(404, f'workflowtemplates.argoproj.io "{body.get("resourceName")}" not found')
                return
            template = st.templates[body["resourceName"]]
            options = body.get("submitOptions", {})
            declared = {p["name"] for p in template["spec"].get("arguments", {}).get("parameters", [])}
            unknown = [p.split("=", 1)[0] for p in options.get("parameters", []) if p.split("=", 1)[0] not in declared]
            if unknown:
                self._error(400, f"unknown parameters: {unknown}")
                return
            wf = _new_workflow(st, template, options)
            st.workflows[wf["metadata"]["name"]] = wf
            self._send(200, _public(wf), P + "Workflow")
            if st.pods is not None:
                st.pods.start(st, wf, _finish)
        elif method == "GET" and name is None:
            query = parse_qs(urlsplit(self.path).query)
            selector = query.get("listOptions.labelSelector", [""])[0]
            items = [_public(wf) for wf in st.workflows.values() if _matches(wf["metadata"]["labels"], selector)]
            self._send(200, {"metadata": {}, "items": items}, P + "WorkflowList")
        elif method == "GET" and name and action is None:
            wf = st.workflows.get(name)
            if wf is None:
                self._error(404, f'workflows.argoproj.io "{name}" not found')
                return
            _advance(st, wf)
            self._send(200, _public(wf), P + "Workflow")
        elif method == "PUT" and name and action == "stop":
            body = self._body(P + "WorkflowStopRequest")
            if body is None:
                return
            wf = st.workflows.get(name)
            if wf is None:
                self._error(404, f'workflows.argoproj.io "{name}" not found')
                return
            wf["_pending"] = []
            wf["status"].update(phase="Failed", message=body.get("message") or "Stopped", finishedAt=_now())
            _finish(st, wf)
            self._send(200, _public(wf), P + "Workflow")
        elif method == "DELETE" and name and action is None:
            if st.workflows.pop(name, None) is None:
                self._error(404, f'workflows.argoproj.io "{name}" not found')
                return
            self._send(200, {}, P + "WorkflowDeleteResponse")
        else:
            self._error(404, "not implemented in the test server")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")


class ArgoTestServer:
    """Start/stop the server on a free loopback port; ``url``, ``state``."""

    def __init__(self, swagger_path: Path, token: str, namespace: str = "argo") -> None:
        self.state = ArgoState(token, namespace)
        handler = type("Handler", (_Handler,), {"state": self.state, "contract": ArgoContract(swagger_path)})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ArgoTestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
