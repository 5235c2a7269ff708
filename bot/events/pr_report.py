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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import UsageError
from bot.logging import mask

FILE_NAME = "pr-report.json"
CHECK_NAME = "catalog-bot"
SHA = r"^[0-9a-f]{40}$"


class AnnotationModel(BaseModel):
    """One check-run annotation in GitHub's shape."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=1000)
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    annotation_level: Literal["notice", "warning", "failure"]
    title: str = Field(default="", max_length=255)
    message: str = Field(max_length=64_000)
    start_column: int | None = Field(default=None, ge=1)
    end_column: int | None = Field(default=None, ge=1)

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("/") or "\\" in value or ".." in value.split("/"):
            raise ValueError("annotation paths must be relative to the repository root")
        return value


class PrReport(BaseModel):
    """What the PR check found, ready to post (comment bodies, check run, summary)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    pr: int = Field(ge=1)
    head_sha: str = Field(pattern=SHA)
    base_sha: str = Field(pattern=SHA)
    conclusion: Literal["success", "failure", "neutral"]
    title: str = Field(max_length=255)
    bodies: list[str] = Field(min_length=1, max_length=50)
    annotations: list[AnnotationModel] = Field(default_factory=list, max_length=5000)
    errors: int = Field(default=0, ge=0)
    warnings: int = Field(default=0, ge=0)

    @field_validator("bodies")
    @classmethod
    def _sizes(cls, value: list[str]) -> list[str]:
        if any(len(b) > 65_536 for b in value):
            raise ValueError("a comment body is longer than 65536 characters")
        return value

    def summary_markdown(self) -> str:
        """Everything, for the job summary (no comment-size limit there)."""
        return "\n\n".join(self.bodies)

    def write(self, folder: Path) -> Path:
        """Write ``pr-report.json`` atomically into ``folder`` (secrets masked)."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / FILE_NAME
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".pr-report-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(mask(self.model_dump_json(indent=2)))
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
        annotations=[AnnotationModel.model_validate(a.to_check_run()) for a in report.annotations()],
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
        return PrReport.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        raise UsageError(
            f"{path} [{where}]: {first['msg']}", hint="the PR check artifact is malformed or forged"
        ) from None
