"""Offline validation of Argo manifests against the Argo CRD JSON schema.

Why stricter than the schema: Argo's published JSON schema allows unknown
properties everywhere, so a typo such as ``entrypointt`` passes it (and
hera's models ignore unknown keys too).  We close every object definition
(``additionalProperties: false``) before validating, so typos are caught
before flux applies a manifest.

Why some fields are widened instead: the schema describes the Go types'
JSON *output*, while the controller reads YAML more leniently.
``IntOrString`` and ``Quantity`` accept numbers, and parameter values are
``AnyString`` (Argo's unmarshaller takes strings, numbers and booleans), so
``value: 3`` in an upstream example is valid and must not be rejected.

Why the semantic checks know about ``templateRef``, ``inline`` and
``workflowTemplateRef``: a task may run a template of another
(Cluster)WorkflowTemplate, or one defined in place, and a Workflow may take
all its templates from a referenced WorkflowTemplate.  A name is only called
undefined when every place it could come from was linted together; a
reference to a template outside the linted files cannot be checked offline
and is accepted.

Kinds: every kind in the Argo Workflows schema is validated; other
Kubernetes objects that live next to workflows (ConfigMap, PVC, Argo Events
sensors...) are skipped with a note, not an error.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from bot.errors import Problem, SchemaNotFound, Severity

SCHEMA_GLOB = "argo-workflows-*/api/jsonschema/schema.json"
_PREFIX = "io.argoproj.workflow.v1alpha1."
API_GROUP = "argoproj.io"
KINDS = ("Workflow", "WorkflowTemplate", "CronWorkflow", "ClusterWorkflowTemplate", "WorkflowEventBinding")
# argoproj.io kinds that belong to Argo Events / CD / Rollouts, not Workflows: not ours to lint.
OTHER_ARGO_KINDS = frozenset(
    {
        "Sensor",
        "EventSource",
        "EventBus",
        "Application",
        "ApplicationSet",
        "AppProject",
        "Rollout",
        "AnalysisTemplate",
        "ClusterAnalysisTemplate",
        "AnalysisRun",
        "Experiment",
    }
)
_TEMPLATE_KINDS = ("WorkflowTemplate", "ClusterWorkflowTemplate")
_DEPENDS_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_DEPENDS_RESULTS = {
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
}


def find_argo_schema(mirror_dir: Path | None) -> Path:
    """The newest Argo JSON schema in the mirror directory."""
    if mirror_dir is not None:
        found = sorted(mirror_dir.glob(SCHEMA_GLOB))
        if found:
            return found[-1]
    raise SchemaNotFound(
        f"no Argo Workflows JSON schema under {mirror_dir or '<no mirror configured>'}",
        hint="set CATALOG_BOT_SCHEMAS to a mirror containing argo-workflows-<version>/api/jsonschema/schema.json",
    )


def _close_objects(node: Any) -> None:
    """Forbid unknown keys in every object schema that lists its properties."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


_ANY_STRING = {"type": ["string", "number", "boolean"]}


def _widen(defs: dict[str, Any]) -> None:
    """Accept what the controller accepts where the schema is narrower (see module docstring)."""
    defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
    quantity = defs.get("io.k8s.apimachinery.pkg.api.resource.Quantity")
    if isinstance(quantity, dict):
        quantity["type"] = ["string", "number"]
    for name in ("Parameter", "ValueFrom"):
        props = defs.get(_PREFIX + name, {}).get("properties", {})
        for key in ("default", "value"):
            if key in props:
                props[key] = {**props[key], **_ANY_STRING}
        if "enum" in props:
            props["enum"] = {**props["enum"], "items": _ANY_STRING}


@lru_cache(maxsize=4)
def _validators(schema_path: str) -> dict[str, Draft202012Validator]:
    schema = json.loads(Path(schema_path).read_text(encoding="utf-8"))
    defs = copy.deepcopy(schema["definitions"])
    _widen(defs)
    _close_objects(defs)
    # metadata is free-form enough in practice (labels/annotations maps); keep ObjectMeta open.
    defs["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].pop("additionalProperties", None)
    out = {}
    for kind in KINDS:
        root = {"$schema": schema.get("$schema"), "$ref": f"#/definitions/{_PREFIX}{kind}", "definitions": defs}
        out[kind] = Draft202012Validator(root)
    return out


# ---- line numbers ------------------------------------------------------------------


def _node_at(node: yaml.Node | None, path: list[str | int]) -> yaml.Node | None:
    """The YAML node at ``path`` (keys and indexes); for a mapping member, its *key* node."""
    found = node
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    found, node = key, value
                    break
            else:
                return found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node = node.value[part]
        else:
            return found
    return found


def _line(node: yaml.Node | None, path: list[str | int]) -> int | None:
    target = _node_at(node, path)
    return target.start_mark.line + 1 if target is not None else None


# ---- one manifest ------------------------------------------------------------------


@dataclass
class _Doc:
    """One YAML document with where it came from (for messages and lines)."""

    data: Any
    file: str
    node: yaml.Node | None = None

    def problem(self, code: str, message: str, path: list[str | int], **extra: Any) -> Problem:
        pointer = "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) if path else ""
        line = extra.pop("line", None) or _line(self.node, path)
        return Problem(code=code, message=message, file=self.file, pointer=pointer or "/", line=line, **extra)


@dataclass
class _Library:
    """Templates defined by the WorkflowTemplates / ClusterWorkflowTemplates linted together."""

    namespaced: dict[str, set[str]] = field(default_factory=dict)
    cluster: dict[str, set[str]] = field(default_factory=dict)

    def add(self, doc: Any) -> None:
        if not isinstance(doc, dict) or doc.get("kind") not in _TEMPLATE_KINDS:
            return
        name = (doc.get("metadata") or {}).get("name")
        spec = doc.get("spec") or {}
        if isinstance(name, str) and isinstance(spec, dict):
            names = {t.get("name") for t in spec.get("templates") or [] if isinstance(t, dict)}
            table = self.cluster if doc["kind"] == "ClusterWorkflowTemplate" else self.namespaced
            table[name] = {n for n in names if isinstance(n, str)}

    def templates_of(self, ref: dict[str, Any]) -> set[str] | None:
        """Template names of the referenced (Cluster)WorkflowTemplate, ``None`` if not linted here."""
        table = self.cluster if ref.get("clusterScope") else self.namespaced
        return table.get(str(ref.get("name")))


def _kind_note(doc: _Doc) -> Problem | None:
    """A note or an error for a document that is not an Argo Workflows kind (``None`` if it is)."""
    data = doc.data
    if not isinstance(data, dict):
        return doc.problem(
            "argo-kind", f"a manifest must be a mapping, not {type(data).__name__}", [], hint="check the YAML"
        )
    kind, api = data.get("kind"), str(data.get("apiVersion") or "")
    if kind in KINDS:
        return None
    if not kind:
        return doc.problem("argo-kind", "manifest has no 'kind'", [], hint=f"set kind to one of: {', '.join(KINDS)}")
    if api.split("/")[0] != API_GROUP or kind in OTHER_ARGO_KINDS:
        return doc.problem(
            "argo-kind",
            f"skipped {kind} ({api or 'no apiVersion'}): not an Argo Workflows kind",
            ["kind"],
            severity=Severity.NOTICE,
        )
    close = difflib.get_close_matches(str(kind), KINDS, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"a manifest must be one of: {', '.join(KINDS)}"
    return doc.problem("argo-kind", f"unsupported kind {kind!r} in {api}", ["kind"], hint=hint)


def _schema_problems(doc: _Doc, validator: Draft202012Validator) -> list[Problem]:
    """Schema errors; a misspelt required key is one error (the typo), not two."""
    errors: Iterator[ValidationError] = validator.iter_errors(doc.data)
    found: list[tuple[ValidationError, str, int | None]] = []
    respelt: set[tuple[str, str]] = set()  # (pointer, required key the typo stands for)
    for err in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(err.absolute_path)
        hint = "check the field name and type against the Argo Workflows spec"
        line = None
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            hint = "remove the unknown field or fix its spelling"
            allowed = set((err.schema or {}).get("properties", {}))
            unknown = [k for k in err.instance if k not in allowed]
            if unknown:
                line = _line(doc.node, [*path, unknown[0]])
                close = difflib.get_close_matches(str(unknown[0]), sorted(allowed), n=1)
                if close:
                    hint = f"did you mean {close[0]!r}? (or remove the unknown field)"
                    respelt.add((str(path), close[0]))
        found.append((err, hint, line))
    problems = []
    for err, hint, line in found:
        path = list(err.absolute_path)
        if err.validator == "required" and isinstance(err.instance, dict):
            missing = [k for k in err.validator_value if k not in err.instance]
            if missing and all((str(path), k) in respelt for k in missing):
                continue
        problems.append(doc.problem("argo-schema", err.message, path, hint=hint, line=line))
    return problems


def lint_manifest(
    doc: Any,
    schema_path: Path,
    file: str = "<manifest>",
    *,
    node: yaml.Node | None = None,
    library: _Library | None = None,
) -> list[Problem]:
    """Problems in one manifest (empty list = valid; a skipped non-Argo kind gives one notice).

    ``node`` (the composed YAML document) gives line numbers; ``library``
    holds the templates of the other documents linted together, so that
    ``templateRef`` / ``workflowTemplateRef`` to them are checked.
    """
    item = _Doc(doc, file, node)
    note = _kind_note(item)
    if note is not None:
        return [note]
    problems = _schema_problems(item, _validators(str(schema_path))[doc["kind"]])
    if library is None:
        library = _Library()
        library.add(doc)
    problems += _Semantics(item, library).run()
    return problems


# ---- semantics the schema cannot express --------------------------------------------


class _Semantics:
    """Every template a manifest names exists, and every DAG dependency is a task of that DAG."""

    def __init__(self, doc: _Doc, library: _Library) -> None:
        self.doc = doc
        self.library = library
        self.problems: list[Problem] = []

    def run(self) -> list[Problem]:
        data = self.doc.data
        kind = data["kind"]
        spec = data.get("spec")
        if not isinstance(spec, dict):
            return []
        if kind == "WorkflowEventBinding":
            return []  # submits a WorkflowTemplate by name: the schema check is all there is
        base: list[str | int] = ["spec"]
        if kind == "CronWorkflow":
            spec = spec.get("workflowSpec")
            base = ["spec", "workflowSpec"]
            if not isinstance(spec, dict):
                return self.problems
        self._workflow_spec(spec, base)
        return self.problems

    def _error(self, code: str, message: str, path: list[str | int], hint: str | None = None) -> None:
        self.problems.append(self.doc.problem(code, message, path, hint=hint))

    def _workflow_spec(self, spec: dict[str, Any], base: list[str | int]) -> None:
        templates = [t for t in spec.get("templates") or [] if isinstance(t, dict)]
        names: set[str] | None = {t["name"] for t in templates if isinstance(t.get("name"), str)}
        ref = spec.get("workflowTemplateRef")
        if isinstance(ref, dict):
            referenced = self.library.templates_of(ref)
            names = None if referenced is None else (names or set()) | referenced
        for key in ("entrypoint", "onExit"):
            self._check_name(spec.get(key), names, [*base, key], f"spec.{key}")
        self._hooks(spec.get("hooks"), names, [*base, "hooks"])
        for i, tpl in enumerate(templates):
            self._template(tpl, names, [*base, "templates", i])

    def _check_name(self, ref: Any, names: set[str] | None, path: list[str | int], what: str) -> None:
        if not isinstance(ref, str) or not ref or "{{" in ref or names is None or ref in names:
            return
        close = difflib.get_close_matches(ref, sorted(names), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "define it under spec.templates or use templateRef"
        self._error("argo-template-ref", f"{what} names template {ref!r}, which is not defined", path, hint)

    def _hooks(self, hooks: Any, names: set[str] | None, path: list[str | int]) -> None:
        if not isinstance(hooks, dict):
            return
        for event, hook in hooks.items():
            if isinstance(hook, dict):
                self._invocation(hook, names, [*path, event], f"hook {event!r}", need_one=True)

    def _template(self, tpl: dict[str, Any], names: set[str] | None, path: list[str | int]) -> None:
        dag = tpl.get("dag")
        if isinstance(dag, dict):
            tasks = [t for t in dag.get("tasks") or [] if isinstance(t, dict)]
            task_names = {t["name"] for t in tasks if isinstance(t.get("name"), str)}
            for j, task in enumerate(tasks):
                task_path: list[str | int] = [*path, "dag", "tasks", j]
                self._invocation(task, names, task_path, f"task {task.get('name')!r}")
                self._dependencies(task, task_names, task_path)
            self._check_target(dag.get("target"), task_names, [*path, "dag", "target"])
        steps = tpl.get("steps")
        if isinstance(steps, list):
            for j, group in enumerate(steps):
                for k, step in enumerate(group if isinstance(group, list) else []):
                    if isinstance(step, dict):
                        self._invocation(step, names, [*path, "steps", j, k], f"step {step.get('name')!r}")

    def _invocation(
        self, call: dict[str, Any], names: set[str] | None, path: list[str | int], what: str, need_one: bool = True
    ) -> None:
        """A task, step or hook runs exactly one of: ``template``, ``templateRef`` or ``inline``."""
        given = [k for k in ("template", "templateRef", "inline") if call.get(k) is not None]
        if len(given) > 1:
            self._error("argo-template-ref", f"{what} sets {' and '.join(given)}; use exactly one", path)
        elif not given and need_one:
            hint = "add template: <name>, templateRef: {name, template} or inline: {...}"
            self._error("argo-template-ref", f"{what} names no template", path, hint)
        if "template" in given:
            self._check_name(call["template"], names, [*path, "template"], what)
        if "templateRef" in given and isinstance(call["templateRef"], dict):
            ref = call["templateRef"]
            known = self.library.templates_of(ref)
            scope = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
            self._check_name(
                ref.get("template"), known, [*path, "templateRef", "template"], f"{what} ({scope} {ref.get('name')!r})"
            )
        if "inline" in given and isinstance(call["inline"], dict):
            self._template(call["inline"], names, [*path, "inline"])
        if "onExit" in call:
            self._check_name(call["onExit"], names, [*path, "onExit"], f"{what} onExit")
        self._hooks(call.get("hooks"), names, [*path, "hooks"])

    def _dependencies(self, task: dict[str, Any], task_names: set[str], path: list[str | int]) -> None:
        for k, dep in enumerate(task.get("dependencies") or []):
            if dep not in task_names:
                self._error("argo-dependency", f"unknown dependency {dep!r}", [*path, "dependencies", k])
        depends = task.get("depends")
        if isinstance(depends, str):
            for word in _DEPENDS_WORD.findall(depends):
                name, _, result = word.partition(".")
                if word in task_names or (name in task_names and (not result or result in _DEPENDS_RESULTS)):
                    continue
                if name in task_names:
                    message = f"depends uses unknown result {result!r} of task {name!r}"
                    hint = f"one of: {', '.join(sorted(_DEPENDS_RESULTS))}"
                else:
                    message, hint = f"depends names unknown task {name!r}", "name a task of this DAG"
                self._error("argo-dependency", message, [*path, "depends"], hint)

    def _check_target(self, target: Any, task_names: set[str], path: list[str | int]) -> None:
        if not isinstance(target, str) or "{{" in target:
            return
        for name in target.split():
            if name not in task_names:
                self._error("argo-dependency", f"dag target {name!r} is not a task of this DAG", path)


# ---- files -------------------------------------------------------------------------


def _read(file: Path) -> tuple[list[tuple[Any, yaml.Node | None]], Problem | None]:
    """(data, node) per non-empty document, or the YAML error."""
    text = file.read_text(encoding="utf-8")
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        datas = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], Problem(
            code="argo-yaml",
            message=f"invalid YAML: {exc}",
            file=str(file),
            line=mark.line + 1 if mark else None,
            hint="fix the YAML syntax",
        )
    return [(d, n) for d, n in zip(datas, nodes, strict=False) if d is not None], None


def lint_path(path: Path, schema_path: Path) -> list[Problem]:
    """Lint a YAML/JSON file (multi-document YAML allowed) or every such file in a folder.

    All documents are read first so that a ``templateRef`` in one file can
    be checked against a WorkflowTemplate defined in another.
    """
    files = sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml", ".json"}) if path.is_dir() else [path]
    problems: list[Problem] = []
    docs: list[tuple[Path, Any, yaml.Node | None]] = []
    library = _Library()
    for file in files:
        read, error = _read(file)
        if error is not None:
            problems.append(error)
        for data, node in read:
            docs.append((file, data, node))
            library.add(data)
    for file, data, node in docs:
        problems += lint_manifest(data, schema_path, str(file), node=node, library=library)
    return problems
