"""Grid schemas: the catalog's gridschema JSON Schema plus name and dimension consistency."""

from __future__ import annotations

from typing import Any

from bot.catalog.schemas import SchemaRegistry
from bot.catalog.validate.inputs import LineOf, Profiles
from bot.catalog.validate.schema import schema_problems
from bot.errors import Problem


def validate_gridschema(
    doc: Any,
    schema: dict[str, Any] | None = None,
    *,
    registry: SchemaRegistry,
    file: str | None = None,
    line_of: LineOf | None = None,
    dataset: str | None = None,
) -> list[Problem]:
    """A grid schema against the catalog's gridschema JSON Schema, plus consistency.

    Checks beyond the schema: names are unique, and every dimension a
    variable uses is a declared dimension.
    """
    schema = schema if schema is not None else Profiles.bundled().gridschema
    problems = schema_problems(
        registry.validator_for_schema(schema, "gridschema"),
        doc,
        code="gridschema",
        schema_name="the grid schema (profiles/gridschema.json)",
        file=file,
        line_of=line_of,
        dataset=dataset,
    )
    if not isinstance(doc, dict):
        return problems

    def add(code: str, message: str, pointer: str, hint: str) -> None:
        line = line_of(pointer) if line_of else None
        problems.append(Problem(code, message, file=file, pointer=pointer, line=line, hint=hint, dataset=dataset))

    raw_dims, raw_vars = doc.get("dimensions"), doc.get("variables")
    dims: list[dict[str, Any]] = [d for d in raw_dims if isinstance(d, dict)] if isinstance(raw_dims, list) else []
    variables: list[Any] = raw_vars if isinstance(raw_vars, list) else []
    declared = [d.get("name") for d in dims]
    for section, items in (("dimensions", dims), ("variables", variables)):
        names = [v.get("name") if isinstance(v, dict) else None for v in items]
        for index, name in enumerate(names):
            if name is not None and name in names[:index]:
                add(
                    "duplicate-name",
                    f"{section[:-1]} {name!r} is declared twice",
                    f"/{section}/{index}/name",
                    "rename or remove one",
                )
    for vindex, var in enumerate(variables):
        if not isinstance(var, dict) or not isinstance(var.get("dimensions"), list):
            continue
        for dindex, dim in enumerate(var["dimensions"]):
            if isinstance(dim, str) and dim not in declared:
                add(
                    "grid-dimension-undeclared",
                    f"variable {var.get('name')!r} uses dimension {dim!r}, which is not declared",
                    f"/variables/{vindex}/dimensions/{dindex}",
                    f"declare {dim!r} under dimensions, or use one of: {', '.join(map(str, declared)) or 'none'}",
                )
    return problems
