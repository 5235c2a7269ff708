"""Argo Server API adapter (the only code that talks to Argo).

Why the ``argo-workflows`` client's transport with plain JSON bodies: its
``ApiClient`` gives us auth headers, TLS settings (CA, verification), proxies
and timeouts, but its generated models reject fields that newer servers add,
refuse ``None`` defaults when type checks are off, and are slow on large
workflow objects.  So requests go through ``ApiClient.call_api`` with JSON
bodies that the tests check against Argo's own ``swagger.json``, and
responses are read as plain JSON (``_preload_content=False``), touching only
the fields we use.

The token comes from ``ARGO_TOKEN`` (with or without the ``Bearer ``
prefix); it is registered with the log masker and never part of an error
message.  TLS verification is on unless the environment config turns it off.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from argo_workflows.api_client import ApiClient
from argo_workflows.configuration import Configuration
from argo_workflows.exceptions import ApiException

from bot.adapters.retry import retry_call
from bot.errors import AuthError, ServiceError
from bot.logging import register_secret

SERVICE = "Argo Server"


def normalize_token(token: str) -> str:
    """``Bearer <token>`` whether or not the user included the prefix."""
    token = token.strip()
    return token if token.lower().startswith("bearer ") else f"Bearer {token}"


@dataclass(frozen=True)
class NodeStatus:
    """One node of a workflow, as shown in progress output and PR reports."""

    name: str
    display_name: str
    phase: str
    type: str
    message: str = ""
    template: str = ""
    pod_name: str = ""


@dataclass(frozen=True)
class WorkflowStatus:
    """The parts of a workflow object the bot reports."""

    name: str
    namespace: str
    phase: str
    message: str = ""
    nodes: list[NodeStatus] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Succeeded, Failed or Error: no more polling."""
        return self.phase in {"Succeeded", "Failed", "Error"}

    def failed_nodes(self) -> list[NodeStatus]:
        """Pod nodes that failed or errored (the steps to name in a report)."""
        return [n for n in self.nodes if n.phase in {"Failed", "Error"} and n.type == "Pod"]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowStatus:
        """Parse a workflow object (``GET /api/v1/workflows/{ns}/{name}``)."""
        meta = data.get("metadata", {})
        status = data.get("status", {}) or {}
        nodes = [
            NodeStatus(
                name=n.get("name", node_id),
                display_name=n.get("displayName", n.get("name", node_id)),
                phase=n.get("phase", "Pending"),
                type=n.get("type", ""),
                message=n.get("message", ""),
                template=n.get("templateName", ""),
                pod_name=node_id,
            )
            for node_id, n in sorted((status.get("nodes") or {}).items())
        ]
        return cls(
            name=meta.get("name", ""),
            namespace=meta.get("namespace", ""),
            phase=status.get("phase") or "Pending",
            message=status.get("message", ""),
            nodes=nodes,
            labels=meta.get("labels", {}) or {},
        )


class ArgoClient:
    """Submit, inspect and stop workflows on an Argo Server.

    ``api_client`` may be injected (tests pass one pointing at the local test
    server); by default one is built from ``url``, ``token`` and ``verify_tls``.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        namespace: str = "argo",
        verify_tls: bool = True,
        api_client: ApiClient | None = None,
        attempts: int = 4,
        timeout: float = 30.0,
        poll_initial: float = 2.0,
        poll_max: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.namespace = namespace
        self.attempts = attempts
        self.timeout = timeout
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        if api_client is None:
            config = Configuration(host=self.url)
            config.verify_ssl = verify_tls
            if token:
                bearer = normalize_token(token)
                register_secret(token)
                register_secret(bearer)
                config.api_key = {"BearerToken": bearer}
            api_client = ApiClient(config)
        self._api = api_client

    # -- low level --------------------------------------------------------
    def _call(self, what: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call through the generated client's transport (auth, TLS, timeouts), JSON back."""

        def once() -> dict[str, Any]:
            try:
                response = self._api.call_api(
                    path,
                    method,
                    header_params={"Accept": "application/json", "Content-Type": "application/json"},
                    body=body,
                    auth_settings=["BearerToken"],
                    _preload_content=False,
                    _request_timeout=self.timeout,
                    _return_http_data_only=True,
                )
            except ApiException as exc:
                raise _to_service_error(exc, self.url, what) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise ServiceError(
                    SERVICE, f"{what}: cannot connect ({type(exc).__name__})", url=self.url, transient=True
                ) from None
            data = response.data
            return json.loads(data) if data else {}

        return retry_call(once, service=SERVICE, attempts=self.attempts)

    def _ns(self, kind: str, *rest: str) -> str:
        return "/".join(["/api/v1", kind, quote(self.namespace, safe=""), *(quote(r, safe="") for r in rest)])

    # -- templates --------------------------------------------------------
    def lint_template(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side lint of a WorkflowTemplate (raises on a 400)."""
        return self._call(
            "lint template",
            "POST",
            self._ns("workflow-templates", "lint"),
            {"namespace": self.namespace, "template": manifest},
        )

    def apply_template(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create the WorkflowTemplate, or update it when it exists (flux usually does this)."""
        name = manifest["metadata"]["name"]
        try:
            current = self._call("get template", "GET", self._ns("workflow-templates", name))
        except ServiceError as exc:
            if exc.status != 404:
                raise
            return self._call(
                "create template",
                "POST",
                self._ns("workflow-templates"),
                {"namespace": self.namespace, "template": manifest},
            )
        version = current.get("metadata", {}).get("resourceVersion")
        updated = {**manifest, "metadata": {**manifest["metadata"], "resourceVersion": version}}
        return self._call("update template", "PUT", self._ns("workflow-templates", name), {"template": updated})

    # -- workflows --------------------------------------------------------
    def submit(
        self,
        template: str,
        parameters: list[str],
        *,
        labels: dict[str, str] | None = None,
        service_account: str | None = None,
        generate_name: str | None = None,
    ) -> WorkflowStatus:
        """Submit a workflow from a WorkflowTemplate with ``name=value`` parameters."""
        options: dict[str, Any] = {"parameters": parameters}
        if labels:
            options["labels"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        if service_account:
            options["serviceAccount"] = service_account
        if generate_name:
            options["generateName"] = generate_name
        body = {
            "namespace": self.namespace,
            "resourceKind": "WorkflowTemplate",
            "resourceName": template,
            "submitOptions": options,
        }
        return WorkflowStatus.from_json(self._call("submit", "POST", self._ns("workflows", "submit"), body))

    def list_workflows(self, labels: dict[str, str], *, running_only: bool = True) -> list[WorkflowStatus]:
        """Workflows carrying all ``labels`` (e.g. one dataset's publishes), optionally only running ones."""
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        query = {"listOptions.labelSelector": selector}
        if running_only:
            query["listOptions.labelSelector"] += ",workflows.argoproj.io/completed!=true"
        data = self._call("list workflows", "GET", self._ns("workflows") + "?" + urlencode(query))
        return [WorkflowStatus.from_json(item) for item in data.get("items") or []]

    def get(self, name: str) -> WorkflowStatus:
        """Current status of a workflow."""
        return WorkflowStatus.from_json(self._call("get workflow", "GET", self._ns("workflows", name)))

    def stop(self, name: str, message: str = "stopped by catalog-bot") -> WorkflowStatus:
        """Stop a workflow: running steps finish their exit handlers."""
        body = {"name": name, "namespace": self.namespace, "message": message}
        return WorkflowStatus.from_json(self._call("stop workflow", "PUT", self._ns("workflows", name, "stop"), body))

    def wait(
        self,
        name: str,
        *,
        on_update: Callable[[WorkflowStatus], None] | None = None,
        timeout: float = 6 * 3600,
        sleep: Callable[[float], None] = time.sleep,
    ) -> WorkflowStatus:
        """Poll with exponential backoff until the workflow finishes (or ``timeout``)."""
        delay = self.poll_initial
        max_delay = self.poll_max
        deadline = time.monotonic() + timeout
        while True:
            status = self.get(name)
            if on_update:
                on_update(status)
            if status.finished:
                return status
            if time.monotonic() + delay > deadline:
                raise ServiceError(SERVICE, f"workflow {name} still {status.phase} after {timeout:.0f}s", url=self.url)
            sleep(delay)
            delay = min(delay * 2, max_delay)

    def ui_link(self, name: str, ui_url: str | None = None) -> str:
        """Link to the workflow in the Argo UI."""
        return workflow_url(ui_url or self.url, self.namespace, name)


def workflow_url(ui_url: str, namespace: str, name: str) -> str:
    """The Argo UI page of one workflow (``<ui>/workflows/<namespace>/<name>``)."""
    return f"{ui_url.rstrip('/')}/workflows/{namespace}/{name}"


def _to_service_error(exc: ApiException, url: str, what: str) -> ServiceError:
    status = exc.status
    message = ""
    try:
        payload = json.loads(exc.body or "{}")
        message = payload.get("message") or payload.get("error") or ""
    except (TypeError, ValueError):
        message = (exc.body or b"").decode() if isinstance(exc.body, bytes) else str(exc.body or exc.reason or "")
    message = message or str(exc.reason or "request failed")
    if status in (401, 403):
        return AuthError(
            SERVICE,
            f"{what}: {'unauthorized' if status == 401 else 'forbidden'} ({message})",
            url=url,
            status=status,
            hint="check ARGO_TOKEN (a service-account token with rights in the namespace)",
        )
    transient = status is not None and (status >= 500 or status == 429)
    return ServiceError(SERVICE, f"{what}: {message}", url=url, status=status, transient=transient)
