"""Offline validation of Argo manifests against the Argo CRD JSON schema.

Why stricter than the schema: Argo's published JSON schema allows unknown
properties everywhere, so a typo such as ``entrypointt`` passes it (and
hera's models ignore unknown keys too).  We close every object definition
(``additionalProperties: false``) before validating, so typos are caught
before flux applies a manifest.  ``IntOrString`` fields are declared as plain
strings in the schema; Kubernetes accepts integers there, so we accept both.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from bot.errors import Problem, SchemaNotFound

SCHEMA_GLOB = "argo-workflows-*/api/jsonschema/schema.json"
_PREFIX = "io.argoproj.workflow.v1alpha1."
KINDS = ("Workflow", "WorkflowTemplate", "CronWorkflow", "ClusterWorkflowTemplate")


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


@lru_cache(maxsize=4)
def _validators(schema_path: str) -> dict[str, Draft202012Validator]:
    schema = json.loads(Path(schema_path).read_text(encoding="utf-8"))
    defs = copy.deepcopy(schema["definitions"])
    defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
    _close_objects(defs)
    # metadata is free-form enough in practice (labels/annotations maps); keep ObjectMeta open.
    defs["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].pop("additionalProperties", None)
    out = {}
    for kind in KINDS:
        root = {"$schema": schema.get("$schema"), "$ref": f"#/definitions/{_PREFIX}{kind}", "definitions": defs}
        out[kind] = Draft202012Validator(root)
    return out


def lint_manifest(doc: Any, schema_path: Path, file: str = "<manifest>") -> list[Problem]:
    """Problems in one manifest (empty list = valid)."""
    if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
        kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        return [
            Problem(
                code="argo-kind",
                message=f"unsupported kind {kind!r}",
                file=file,
                hint=f"a manifest must be one of: {', '.join(KINDS)}",
            )
        ]
    validator = _validators(str(schema_path))[doc["kind"]]
    problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        pointer = "/" + "/".join(str(p) for p in err.absolute_path)
        message = err.message
        hint = "check the field name and type against the Argo Workflows spec"
        if err.validator == "additionalProperties":
            hint = "remove the unknown field or fix its spelling"
        problems.append(Problem(code="argo-schema", message=message, file=file, pointer=pointer, hint=hint))
    if doc["kind"] in ("WorkflowTemplate", "Workflow"):
        problems += _lint_dag(doc, file)
    return problems


def _lint_dag(doc: dict[str, Any], file: str) -> list[Problem]:
    """Semantic checks the schema cannot express: templates and dependencies exist."""
    spec = doc.get("spec", {})
    names = {t.get("name") for t in spec.get("templates", [])}
    problems = []
    for ref in (spec.get("entrypoint"), spec.get("onExit")):
        if ref and ref not in names:
            problems.append(
                Problem(
                    code="argo-template-ref", message=f"template {ref!r} is not defined", file=file, pointer="/spec"
                )
            )
    for i, tpl in enumerate(spec.get("templates", [])):
        tasks = tpl.get("dag", {}).get("tasks", [])
        task_names = {t["name"] for t in tasks if "name" in t}
        for j, task in enumerate(tasks):
            pointer = f"/spec/templates/{i}/dag/tasks/{j}"
            if task.get("template") not in names:
                problems.append(
                    Problem(
                        code="argo-template-ref",
                        message=f"task uses undefined template {task.get('template')!r}",
                        file=file,
                        pointer=pointer,
                    )
                )
            for dep in task.get("dependencies", []):
                if dep not in task_names:
                    problems.append(
                        Problem(
                            code="argo-dependency", message=f"unknown dependency {dep!r}", file=file, pointer=pointer
                        )
                    )
    return problems


def lint_path(path: Path, schema_path: Path) -> list[Problem]:
    """Lint a YAML/JSON file (multi-document YAML allowed) or every such file in a folder."""
    files = sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml", ".json"}) if path.is_dir() else [path]
    problems: list[Problem] = []
    for file in files:
        try:
            docs = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problems.append(
                Problem(
                    code="argo-yaml",
                    message=f"invalid YAML: {exc}",
                    file=str(file),
                    line=mark.line + 1 if mark else None,
                )
            )
            continue
        for doc in docs:
            if doc is not None:
                problems += lint_manifest(doc, schema_path, str(file))
    return problems
