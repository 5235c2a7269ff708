"""GitHub's own REST description as the judge of the GitHub test double.

Why: a double that only answers what the bot asks proves nothing if the bot
asks for something GitHub does not have (an endpoint, a query parameter, a
body field).  Every request the double receives and every response it sends
is checked here against GitHub's official OpenAPI description
(``../shared/contracts/github-rest/api.github.com.json``, see SOURCE.md):

- the path must match one of GitHub's path templates for that method (the
  most literal template wins, so ``issues/comments/1`` is not issue "comments");
- path and query parameters must be declared and of the declared type;
- the JSON body must match the operation's request schema with unknown
  fields forbidden (``additionalProperties: false`` added to every object
  schema that lists its properties);
- a response must be documented for its status code and match its schema
  (extra fields tolerated there: GitHub adds fields over time).

The 13 MB description is parsed once per process (:func:`contract`).
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SHARED = Path(os.environ.get("CATALOG_BOT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
if not SHARED.is_dir():  # a worktree one level deeper than the main checkout (/work/wt/<name>)
    SHARED = next(
        (p / "shared" for p in Path(__file__).resolve().parents if (p / "shared" / "contracts").is_dir()), SHARED
    )
SPEC_PATH = SHARED / "contracts" / "github-rest" / "api.github.com.json"
SPEC_URI = "urn:github-rest"
# Parameters whose values legitimately contain slashes (file paths, refs, "base...head").
SLASHED = {"path", "ref", "basehead"}
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    """One documented (method, path template) of the REST API."""

    method: str
    template: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    literals: int
    spec: dict[str, Any]
    params: dict[tuple[str, str], dict[str, Any]]  # (in, name) -> parameter object (refs resolved)

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


def _template_regex(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """A regex with one positional group per ``{name}`` (names may hold dashes) and the names."""
    out, names = "", []
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
        out += re.escape(literal)
        if name:
            out += "(.+)" if name in SLASHED else "([^/]+)"
            names.append(name)
    return re.compile(f"^{out}$"), tuple(names)


class GitHubContract:
    """Matcher and validators built from the OpenAPI document."""

    def __init__(self, spec: dict[str, Any]) -> None:
        _nullable_compositions(spec)
        self.spec = spec
        self.registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT4)
        )
        self.operations: list[Operation] = []
        for template, item in spec["paths"].items():
            shared = item.get("parameters", [])
            for method in METHODS:
                op = item.get(method)
                if op is None:
                    continue
                params = {}
                for p in [*shared, *op.get("parameters", [])]:
                    p = self.deref(p)
                    params[(p["in"], p["name"])] = p
                literals = len(re.sub(r"\{[^}]+\}", "", template))
                self.operations.append(
                    Operation(method.upper(), template, *_template_regex(template), literals, op, params)
                )
        self.operations.sort(key=lambda o: -o.literals)
        self._body_validators: dict[str, Any] = {}
        self._response_validators: dict[tuple[str, str], Any] = {}

    # ------------------------------------------------------------------ refs
    def deref(self, node: Any) -> Any:
        """Follow a local ``$ref`` (one level; the target may hold further refs)."""
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def _inline(self, node: Any, depth: int = 0) -> Any:
        """A copy of a request schema with refs inlined and unknown object fields forbidden."""
        if depth > 40:
            raise RecursionError("request schema nests too deeply")
        node = self.deref(node)
        if isinstance(node, list):
            return [self._inline(x, depth + 1) for x in node]
        if not isinstance(node, dict):
            return node
        out = {k: self._inline(v, depth + 1) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        if "allOf" in out:  # forbidding extras in each member would reject the other members' fields
            for member in out["allOf"]:
                if isinstance(member, dict) and member.get("additionalProperties") is False:
                    del member["additionalProperties"]
        return out

    # ------------------------------------------------------------------ matching
    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The most literal documented operation for ``method path`` and its path parameters."""
        for op in self.operations:
            if op.method != method:
                continue
            m = op.pattern.match(path)
            if m is None:
                continue
            params = dict(zip(op.names, m.groups(), strict=True))
            if not self._param_errors(op, "path", params):
                return op, params
        return None

    def _param_errors(self, op: Operation, where: str, values: dict[str, str]) -> list[str]:
        errors = []
        for name, raw in values.items():
            p = op.params.get((where, name))
            if p is None:
                errors.append(f"{where} parameter {name!r} is not accepted by {op.key}")
                continue
            schema = self.deref(p.get("schema", {}))
            value = _coerce(raw, schema)
            for err in OAS30Validator(schema).iter_errors(value):
                errors.append(f"{where} parameter {name}={raw!r}: {err.message}")
        return errors

    # ------------------------------------------------------------------ requests
    def request_errors(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[Operation | None, dict[str, str], list[str]]:
        """``(operation, path params, problems)`` for one request (``path`` without any API prefix)."""
        found = self.match(method, path)
        if found is None:
            return None, {}, [f"GitHub's REST API has no {method} {path}"]
        op, params = found
        errors = self._param_errors(op, "query", query)
        content = self.deref(op.spec.get("requestBody", {})).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema is None:
            if body is not None:
                errors.append(f"{op.key} takes no JSON body, got {_short(body)}")
            return op, params, errors
        if body is None:
            if self.deref(op.spec["requestBody"]).get("required"):
                errors.append(f"{op.key} requires a JSON body")
            return op, params, errors
        validator = self._body_validators.get(op.key)
        if validator is None:
            validator = self._body_validators[op.key] = OAS30Validator(
                self._inline(schema), format_checker=oas30_format_checker
            )
        for err in validator.iter_errors(body):
            where = "/".join(str(p) for p in err.absolute_path) or "(body)"
            errors.append(f"{op.key} request body {where}: {err.message[:300]}")
        return op, params, errors

    # ------------------------------------------------------------------ responses
    def response_errors(self, op: Operation, status: int, body: Any) -> list[str]:
        """Problems of a response; error statuses are checked only when GitHub documents them."""
        responses = op.spec.get("responses", {})
        documented = responses.get(str(status))
        if documented is None:
            if status < 300:
                return [f"{op.key} never answers {status} (documented: {sorted(responses)})"]
            return []
        content = self.deref(documented).get("content", {})
        if "application/json" not in content:
            return [] if body is None else [f"{op.key} {status} has no body in GitHub's API, got {_short(body)}"]
        key = (op.key, str(status))
        validator = self._response_validators.get(key)
        if validator is None:
            pointer = "/".join(
                part.replace("~", "~0").replace("/", "~1")
                for part in ("paths", op.template, op.method.lower(), "responses", str(status))
            )
            ref = {"$ref": f"{SPEC_URI}#/{pointer}"}
            if "$ref" in documented:  # a shared response: point at it instead
                ref = {"$ref": SPEC_URI + documented["$ref"]}
            schema = {"$ref": ref["$ref"] + "/content/application~1json/schema"}
            validator = self._response_validators[key] = OAS30Validator(schema, registry=self.registry)
        return [
            f"{op.key} {status} response {'/'.join(str(p) for p in err.absolute_path) or '(body)'}: {err.message[:300]}"
            for err in validator.iter_errors(body)
        ]


def _nullable_compositions(node: Any) -> None:
    """Make ``nullable: true`` next to ``oneOf``/``anyOf``/``allOf`` (no ``type``) accept null.

    GitHub writes e.g. a commit's ``author`` as ``{nullable: true, oneOf:
    [simple-user, empty-object]}`` and really sends ``null``; the OAS 3.0
    validator only honours ``nullable`` beside ``type``.  Rewritten in place
    once, when the description is loaded.
    """
    if isinstance(node, list):
        for item in node:
            _nullable_compositions(item)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        _nullable_compositions(value)
    if node.get("nullable") is True and "type" not in node:
        branches = {k: node.pop(k) for k in ("oneOf", "anyOf", "allOf") if k in node}
        if branches:
            node["anyOf"] = [branches, {"enum": [None]}]


def _coerce(raw: str, schema: dict[str, Any]) -> Any:
    """Query/path values arrive as strings; GitHub parses them by the declared type."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    if kind == "array":
        return raw.split(",")
    return raw


def _short(body: Any) -> str:
    text = json.dumps(body) if not isinstance(body, str) else body
    return text if len(text) < 200 else text[:200] + "..."


@functools.cache
def contract() -> GitHubContract:
    """The parsed description (once per process: it is 13 MB)."""
    return GitHubContract(json.loads(SPEC_PATH.read_text(encoding="utf-8")))
