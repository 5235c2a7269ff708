"""JSON Schema errors -> located Problems (the most useful error of a ``oneOf``, a hint per keyword)."""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema.exceptions import ValidationError, best_match
from referencing.exceptions import Unresolvable

from bot.catalog.locate import make_pointer
from bot.catalog.schemas import schema_errors
from bot.catalog.validate.inputs import LineOf
from bot.errors import Problem, Severity

MAX_SCHEMA_PROBLEMS = 25


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hint(err: ValidationError, schema_name: str) -> str:
    kind, expected = err.validator, err.validator_value
    alternatives = _required_alternatives(err)
    if alternatives:
        return "add " + " or ".join(f"`{n}`" for n in alternatives)
    if kind == "not" and list(err.absolute_path) == ["collection"]:
        return 'add a link {"rel": "collection", "href": "<the collection\'s URL or ./collection.json>"}, or remove `collection`'
    if kind == "required":
        missing = re.findall(r"'([^']+)' is a required property", err.message)
        return f"add `{missing[0]}`" if missing else "add the missing field"
    if kind == "enum":
        return "use one of: " + ", ".join(_short(v, 30) for v in expected)
    if kind in {"oneOf", "anyOf"} and _allowed_types(err):
        return "use one of the allowed types: " + ", ".join(_allowed_types(err))
    if kind == "const":
        return f"use {_short(expected)}"
    if kind == "pattern":
        path = list(err.absolute_path)
        if len(path) >= 3 and path[-3] == "licenses" and path[-1] == "name":
            return "use an SPDX licence id such as CC-BY-4.0 or ODbL-1.0 (no spaces), or give its `path` (URL)"
        return f"match the pattern {expected}"
    if kind == "type":
        return f"use a value of type {expected}"
    if kind == "format":
        example = {"date-time": " such as 2024-01-31T00:00:00Z", "email": " such as name@example.org"}.get(expected, "")
        return f"use a valid {expected}{example}"
    if kind in {"additionalProperties", "unevaluatedProperties"}:
        return "remove the unknown field or check its spelling"
    if kind in {"minItems", "maxItems"}:
        return f"the list needs {'at least' if kind == 'minItems' else 'at most'} {expected} items"
    if kind == "uniqueItems":
        return "remove the duplicate items"
    if kind == "minLength":
        return "use a non-empty value"
    return f"see {schema_name}"


def _discriminator_reject(err: ValidationError, base: int) -> bool:
    """Whether ``err`` says "this branch is for another ``type``" (Item vs Collection, field types)."""
    return err.validator in {"const", "enum"} and list(err.absolute_path)[base:] == ["type"]


def pick_error(err: ValidationError) -> ValidationError:
    """The most useful error to show for ``err``.

    ``best_match`` alone often explains a ``oneOf`` with the wrong branch
    (a STAC extension's Item branch, "'Feature' was expected", for a
    Collection).  Branches rejected by a ``type`` discriminator are dropped
    first; if every branch is rejected that way, the ``oneOf`` error itself
    is returned (its message is then rewritten by :func:`_message`).
    """
    if not err.context:
        return err
    if _required_alternatives(err):
        return err  # "needs name or path": one message for the whole choice
    if err.validator not in {"oneOf", "anyOf"}:
        return pick_error(best_match([err]))
    base = len(err.absolute_path)
    branches: dict[Any, list[ValidationError]] = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else None, []).append(sub)
    live = [errs for errs in branches.values() if not any(_discriminator_reject(e, base) for e in errs)]
    if not live:
        return err
    best = best_match([e for errs in live for e in errs])
    return pick_error(best) if best.context else best


def _required_alternatives(err: ValidationError) -> list[str]:
    """For an ``anyOf``/``oneOf`` whose every branch only misses a required field: those fields."""
    if err.validator not in {"oneOf", "anyOf"} or not err.context:
        return []
    names: list[str] = []
    for sub in err.context:
        if sub.validator != "required" or list(sub.relative_path):
            return []
        names += [n for n in re.findall(r"'([^']+)' is a required property", sub.message) if n not in names]
    return names


def _located_path(err: ValidationError) -> list[Any]:
    """Where to point: a choice rejected by its ``type`` discriminator points at ``type`` itself.

    Why: a field typed ``float`` is one mistake on the ``type`` line, not on
    the line that opens the field object.
    """
    path = list(err.absolute_path)
    typed = isinstance(err.instance, dict) and "type" in err.instance
    if err.validator in {"oneOf", "anyOf"} and typed and _allowed_types(err):
        path.append("type")
    return path


def _allowed_types(err: ValidationError) -> list[str]:
    base = len(err.absolute_path)
    allowed: list[str] = []
    for sub in err.context:
        if _discriminator_reject(sub, base):
            values = sub.validator_value if sub.validator == "enum" else [sub.validator_value]
            allowed += [str(v) for v in values if str(v) not in allowed]
    return allowed


def _message(err: ValidationError) -> str:
    if err.validator == "not" and err.validator_value == {} and list(err.absolute_path) == ["collection"]:
        # STAC item core: `collection` is allowed only together with a link of rel "collection"
        return f"item has a `collection` field ({_short(err.instance)}) but no link with rel `collection`"
    if err.validator == "not" and err.validator_value == {} and err.absolute_path:
        return f"`{err.absolute_path[-1]}` is not allowed here"
    alternatives = _required_alternatives(err)
    if alternatives:
        return "needs " + " or ".join(f"`{n}`" for n in alternatives)
    if err.validator in {"oneOf", "anyOf"} and isinstance(err.instance, dict) and _allowed_types(err):
        return f"type {_short(err.instance.get('type'))} is not one of: {', '.join(_allowed_types(err))}"
    if len(err.message) <= 200:
        return err.message
    if err.validator in {"oneOf", "anyOf"}:
        return f"value {_short(err.instance)} does not match any allowed form"
    return f"value {_short(err.instance)} fails `{err.validator}`: {_short(err.validator_value)}"


def schema_problems(
    validator: Any,
    doc: Any,
    *,
    code: str,
    schema_name: str,
    file: str | None,
    line_of: LineOf | None = None,
    dataset: str | None = None,
    limit: int = MAX_SCHEMA_PROBLEMS,
) -> list[Problem]:
    """Run a compiled validator and turn its errors into located Problems.

    One problem per top-level error, reported at the most relevant nested
    cause (``best_match``), sorted by document position; at most ``limit``.
    A ``$ref`` that cannot be resolved offline becomes one
    ``schema-not-found`` problem naming the URL.
    """
    try:
        errors = schema_errors(validator, doc)
    except Unresolvable as exc:
        ref = getattr(exc, "ref", None) or str(exc)
        return [
            Problem(
                "schema-not-found",
                f"{schema_name} references {ref}, which is not available offline",
                file=file,
                hint="add the referenced schema to the mirror (CATALOG_BOT_SCHEMAS) at its derived path",
                dataset=dataset,
            )
        ]
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for top in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        err = pick_error(top)
        pointer = make_pointer(_located_path(err))
        # One problem per location (a bad date-time also fails its pattern),
        # except that every missing required field is worth its own line.
        key = (pointer, err.message if err.validator == "required" else "")
        if key in seen:
            continue
        seen.add(key)
        out.append(
            Problem(
                code,
                _message(err),
                file=file,
                pointer=pointer or None,
                line=line_of(pointer) if line_of else None,
                hint=_hint(err, schema_name),
                dataset=dataset,
            )
        )
        if len(out) >= limit:
            out.append(
                Problem(
                    code,
                    f"more than {limit} errors against {schema_name}; showing the first {limit}",
                    file=file,
                    severity=Severity.NOTICE,
                    dataset=dataset,
                )
            )
            break
    return out
