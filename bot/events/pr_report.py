"""The PR check result as a file: built by the unprivileged job, posted by the privileged one.

Why a file between two jobs: the job that renders a pull request's content
must hold no secrets (a fork controls that content, and for ``pull_request``
even the workflow file), so it cannot write to the PR.  It uploads this
report as an artifact; the ``workflow_run`` job -- which has write access but
never checks out or runs PR code -- downloads it and posts it.  Because a
malicious PR can forge the artifact, the privileged side treats it as
untrusted data: strict schema, size limits, relative annotation paths only,
and the PR number is accepted only if that PR's head really is the SHA the
workflow run was for.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from bot.errors import UsageError
from bot.logging import mask
from bot.structs import FieldError, InvalidData, Record, load

FILE_NAME = "pr-report.json"
CHECK_NAME = "catalog-bot"
SHA = r"^[0-9a-f]{40}$"


class AnnotationModel(Record, frozen=True, kw_only=True):
    """One check-run annotation in GitHub's shape."""

    path: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    start_line: Annotated[int, msgspec.Meta(ge=1)]
    end_line: Annotated[int, msgspec.Meta(ge=1)]
    annotation_level: Literal["notice", "warning", "failure"]
    title: Annotated[str, msgspec.Meta(max_length=255)] = ""
    message: Annotated[str, msgspec.Meta(max_length=64_000)]
    start_column: Annotated[int, msgspec.Meta(ge=1)] | None = None
    end_column: Annotated[int, msgspec.Meta(ge=1)] | None = None

    def __post_init__(self) -> None:
        if self.path.startswith("/") or "\\" in self.path or ".." in self.path.split("/"):
            raise FieldError("path", "annotation paths must be relative to the repository root")


class PrReport(Record, frozen=True, kw_only=True):
    """What the PR check found, ready to post (comment bodies, check run, summary)."""

    version: Literal[1] = 1
    pr: Annotated[int, msgspec.Meta(ge=1)]
    head_sha: Annotated[str, msgspec.Meta(pattern=SHA)]
    base_sha: Annotated[str, msgspec.Meta(pattern=SHA)]
    conclusion: Literal["success", "failure", "neutral"]
    title: Annotated[str, msgspec.Meta(max_length=255)]
    bodies: Annotated[list[str], msgspec.Meta(min_length=1, max_length=50)]
    annotations: Annotated[list[AnnotationModel], msgspec.Meta(max_length=5000)] = []
    errors: Annotated[int, msgspec.Meta(ge=0)] = 0
    warnings: Annotated[int, msgspec.Meta(ge=0)] = 0

    def __post_init__(self) -> None:
        if any(len(b) > 65_536 for b in self.bodies):
            raise FieldError("bodies", "a comment body is longer than 65536 characters")

    def summary_markdown(self) -> str:
        """Everything, for the job summary (no comment-size limit there)."""
        return "\n\n".join(self.bodies)

    def write(self, folder: Path) -> Path:
        """Write ``pr-report.json`` atomically into ``folder`` (secrets masked)."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / FILE_NAME
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".pr-report-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(mask(msgspec.json.format(msgspec.json.encode(self), indent=2).decode("utf-8")))
        os.replace(tmp, target)
        return target


def build_pr_report(report: Any, pr: int, *, max_chars: int = 60_000) -> PrReport:
    """Turn a ``bot.catalog.report.Report`` into a :class:`PrReport`."""
    errors, warnings = len(report.errors), len(report.warnings)
    if errors:
        title = f"{errors} error{'s' if errors != 1 else ''}" + (
            f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
        )
    else:
        n = len(report.entries)
        title = f"{n} dataset{'s' if n != 1 else ''} touched, no errors" + (
            f", {warnings} warnings" if warnings else ""
        )
    return PrReport(
        pr=pr,
        head_sha=report.head_sha,
        base_sha=report.base_sha,
        conclusion="failure" if errors else "success",
        title=title,
        bodies=[mask(b) for b in report.to_markdown(max_chars=max_chars)],
        annotations=[load(a.to_check_run(), AnnotationModel) for a in report.annotations()],
        errors=errors,
        warnings=warnings,
    )


def load_pr_report(folder: Path, max_bytes: int = 8_000_000) -> PrReport:
    """Read and strictly validate an artifact (untrusted input)."""
    path = folder / FILE_NAME if folder.is_dir() else folder
    if not path.is_file():
        raise UsageError(f"no {FILE_NAME} in {folder}", hint="download the artifact of the PR check run first")
    if path.stat().st_size > max_bytes:
        raise UsageError(f"{path} is larger than {max_bytes} bytes; refusing it")
    try:
        return load(json.loads(path.read_text(encoding="utf-8")), PrReport)
    except InvalidData as exc:
        where, message = exc.located.field or "(document)", exc.located.message
    except ValueError as exc:  # not JSON
        where, message = "(document)", str(exc)
    raise UsageError(f"{path} [{where}]: {message}", hint="the PR check artifact is malformed or forged")
