"""The result of a check and its four renderings: terminal, Markdown, JSON, annotations.

Why one data class with several renderers: the curator's terminal, the PR
comment, the job summary, the check-run annotations and machine consumers
(the GitHub handler, tests) all show the same facts; rendering is pure and
cannot disagree with the check.  The Markdown follows the Atlantis/Digger
habit: hidden marker first (so the bot finds and updates its own sticky
comment), a header, a status table ``| dataset | status | + | ~ | - |``,
details folded in ``<details>``, the next command ready to copy, a footer
with counts.  Long comments are split at block boundaries (never inside a
``<details>`` or a code block) below GitHub's 65,536-character limit.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table

from bot.catalog.datadiff import DataSection
from bot.catalog.diff import DocumentDiff
from bot.catalog.plan import PUBLISHING, Action, PlanEntry, limited
from bot.errors import EXIT_OK, EXIT_PROBLEMS, Problem, Severity
from bot.logging import mask

MARKER = "<!-- catalog-bot:check -->"
"""First line of the (first) PR comment; parts 2.. use :func:`part_marker`."""

COMMAND_MAX_DATASETS = 20  # datasets per /catalog command (bot.events.commands.MAX_DATASETS)
MAX_DIFF_LINES = 200  # per document in Markdown; the JSON has everything

ICONS = {
    Action.NEW: "🆕",
    Action.METADATA: "📝",
    Action.REPUBLISH: "🔁",
    Action.REMOVE: "🗑️",
    Action.RENAME: "🔀",
    Action.UNCHANGED: "\u2796",
}
_TEXT_STYLE = {
    Action.NEW: "green",
    Action.METADATA: "cyan",
    Action.REPUBLISH: "yellow",
    Action.REMOVE: "red",
    Action.RENAME: "magenta",
    Action.UNCHANGED: "dim",
}
_SEVERITY_ICON = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.NOTICE: "\u2139\ufe0f"}

Level = Literal["error", "warning", "notice"]


def part_marker(index: int) -> str:
    """Hidden marker of comment part ``index`` (1-based); part 1 is :data:`MARKER`."""
    return MARKER if index == 1 else f"<!-- catalog-bot:check part={index} -->"


@dataclass(frozen=True)
class Annotation:
    """A file/line finding for a check run or a workflow command.

    ``path`` is relative to the repository root (what GitHub expects), lines
    are 1-based.  ``level`` uses workflow-command names; :meth:`to_check_run`
    maps ``error`` to the check-run API's ``failure``.
    """

    path: str
    start_line: int
    end_line: int
    level: Level
    title: str
    message: str
    start_column: int | None = None

    def to_check_run(self) -> dict[str, Any]:
        """The check-runs API ``output.annotations[]`` object."""
        data: dict[str, Any] = {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "annotation_level": "failure" if self.level == "error" else self.level,
            "title": self.title[:255],
            "message": self.message[:64000],
        }
        if self.start_column and self.start_line == self.end_line:
            data["start_column"] = data["end_column"] = self.start_column
        return data

    def to_workflow_command(self) -> str:
        """``::error file=…,line=…,col=…,title=…::message`` with GitHub's escaping."""
        props = [f"file={escape_property(self.path)}", f"line={self.start_line}"]
        if self.end_line != self.start_line:
            props.append(f"endLine={self.end_line}")
        if self.start_column:
            props.append(f"col={self.start_column}")
        props.append(f"title={escape_property(self.title)}")
        return f"::{self.level} {','.join(props)}::{escape_data(self.message)}"


def escape_data(text: str) -> str:
    """Escape a workflow-command message (``%``, CR, LF), as @actions/core does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow-command property value: data escapes plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


@dataclass
class Report:
    """Everything a check found; JSON-able via :meth:`to_dict`.

    ``problems`` are catalog-wide findings (config, profiles, folder names);
    dataset findings live in their :class:`PlanEntry`.  ``repo_prefix`` is
    the catalog's folder inside the repository (for annotation paths).
    """

    catalog: str
    base_ref: str
    base_sha: str
    head_ref: str
    head_sha: str
    environment: str = "local"
    entries: list[PlanEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    repo_prefix: str = ""
    elapsed: float = 0.0
    data: dict[str, DataSection] = field(default_factory=dict)  # what the data change means (datadiff)

    # -- facts ----------------------------------------------------------
    @property
    def touched(self) -> list[str]:
        """Ids of the datasets the change touches."""
        return [e.dataset for e in self.entries]

    def all_problems(self) -> list[Problem]:
        """Catalog-wide and per-dataset problems together."""
        return [*self.problems, *(p for e in self.entries for p in e.problems)]

    @property
    def errors(self) -> list[Problem]:
        """Every error (these make the check fail)."""
        return [p for p in self.all_problems() if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        """Every warning."""
        return [p for p in self.all_problems() if p.severity is Severity.WARNING]

    @property
    def exit_code(self) -> int:
        """0 when there is no error, 1 otherwise."""
        return EXIT_PROBLEMS if self.errors else EXIT_OK

    def counts(self) -> dict[str, int]:
        """Datasets per action plus problem counts (the footer and the JSON)."""
        by_action = Counter(e.action.value for e in self.entries)
        out = {a.value: by_action.get(a.value, 0) for a in Action}
        out.update(
            datasets=len(self.entries),
            errors=len(self.errors),
            warnings=len(self.warnings),
            changed_files=len(self.changed_files),
        )
        return out

    def next_commands(self) -> list[str]:
        """``/catalog publish …`` commands for the publishable datasets (at most 20 ids each)."""
        ids = self.publish_ids()
        step = COMMAND_MAX_DATASETS
        return [f"/catalog publish {' '.join(ids[i : i + step])}" for i in range(0, len(ids), step)]

    def publish_ids(self) -> list[str]:
        """Datasets that a publish after merge will act on (clean ones only)."""
        return [e.dataset for e in self.entries if e.action in PUBLISHING and not e.errors]

    # -- JSON -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (``version`` bumps on incompatible changes)."""
        return {
            "version": 1,
            "catalog": self.catalog,
            "base": {"ref": self.base_ref, "sha": self.base_sha},
            "head": {"ref": self.head_ref, "sha": self.head_sha},
            "environment": self.environment,
            "touched": self.touched,
            "plan": [e.to_dict() for e in self.entries],
            "problems": [p.to_dict() for p in self.problems],
            "notices": list(self.notices),
            "changed_files": list(self.changed_files),
            "counts": self.counts(),
            "exit_code": self.exit_code,
            "elapsed_seconds": round(self.elapsed, 3),
            "data": {ds: section.to_dict() for ds, section in self.data.items() if section.shown},
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (secrets masked)."""
        return mask(json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, default=str))

    # -- annotations ----------------------------------------------------
    def annotations(self) -> list[Annotation]:
        """One annotation per problem, plus a notice per breaking schema change."""
        out = [self._annotation(p) for p in self.all_problems()]
        for entry in self.entries:
            for kind, diff in entry.diffs.items():
                if diff.breaking and kind in ("tableschema", "gridschema"):
                    out.append(
                        Annotation(
                            path=self._repo_path(f"datasets/{entry.dataset}/{kind}.json"),
                            start_line=1,
                            end_line=1,
                            level="notice",
                            title=f"{entry.dataset}: schema change, data will be re-published",
                            message=mask("; ".join(diff.breaking)),
                        )
                    )
        return out

    def _repo_path(self, rel: str) -> str:
        return f"{self.repo_prefix}{rel}"

    def _annotation(self, p: Problem) -> Annotation:
        file = p.file or (f"datasets/{p.dataset}/collection.jsonnet" if p.dataset else "catalog-bot.yaml")
        line = p.line or 1
        message = p.message + (f" (at {p.pointer})" if p.pointer else "") + (f"\nFix: {p.hint}" if p.hint else "")
        title = f"{p.dataset + ': ' if p.dataset else ''}{p.code}"
        level: Level = p.severity.value
        return Annotation(self._repo_path(file), line, line, level, mask(title), mask(message), p.column)

    def workflow_commands(self) -> list[str]:
        """``::error``/``::warning``/``::notice`` lines for GitHub Actions logs."""
        return [a.to_workflow_command() for a in self.annotations()]

    # -- terminal -------------------------------------------------------
    def to_text(self, console: Console) -> None:
        """Print the report for a terminal (rich; colours only on a TTY)."""
        head = self.head_ref if self.head_sha == self.head_ref else f"{self.head_ref} ({self.head_sha[:7]})"
        console.print(
            f"[bold]catalog-bot check[/] {rich_escape(self.catalog)}: "
            f"{rich_escape(self.base_ref)} ({self.base_sha[:7]}) -> {rich_escape(head)}, "
            f"environment {rich_escape(self.environment)}"
        )
        for note in self.notices:
            console.print(f"[blue]note:[/] {rich_escape(mask(note))}")
        for p in self.problems:
            console.print(_problem_text(p))
        if not self.entries:
            console.print("no dataset is touched by this change")
        else:
            table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
            for col, justify in (
                ("dataset", "left"),
                ("status", "left"),
                ("+", "right"),
                ("~", "right"),
                ("-", "right"),
            ):
                table.add_column(col, justify=justify)  # type: ignore[arg-type]
            for e in self.entries:
                a, c, r = e.counts
                status = f"[{_TEXT_STYLE[e.action]}]{e.action.value}[/]"
                if e.errors:
                    status += f" [red]{len(e.errors)} error{'s' if len(e.errors) != 1 else ''}[/]"
                if e.warnings:
                    status += f" [yellow]{len(e.warnings)} warning{'s' if len(e.warnings) != 1 else ''}[/]"
                name = e.dataset if not e.old_id else f"{e.old_id} -> {e.dataset}"
                table.add_row(rich_escape(name), status, str(a), str(c), str(r))
            console.print(table)
        for e in self.entries:
            if e.action is Action.UNCHANGED and not e.problems:
                continue
            console.print()
            console.print(f"[bold]{rich_escape(e.dataset)}[/]: [{_TEXT_STYLE[e.action]}]{e.action.value}[/]")
            for reason in e.reasons:
                console.print(f"  {rich_escape(mask(reason))}")
            for p in e.problems:
                console.print("  " + _problem_text(p))
            for kind, diff in e.diffs.items():
                console.print(f"  [bold]{kind}[/]")
                for line in diff.lines():
                    style = {"+": "green", "-": "red"}.get(line[:1], "yellow")
                    console.print(f"    [{style}]{rich_escape(mask(line))}[/]")
        console.print()
        ids = self.publish_ids()
        if ids and not self.errors:
            console.print("next: merging publishes these datasets; to re-publish from the default branch comment:")
            for cmd in self.next_commands():
                console.print(f"  [bold]{rich_escape(cmd)}[/]")
        console.print(self._footer_text())

    def _footer_text(self) -> str:
        c = self.counts()
        actions = ", ".join(f"{c[a.value]} {a.value}" for a in Action if c[a.value])
        return (
            f"{c['datasets']} dataset{'s' if c['datasets'] != 1 else ''} touched"
            f"{' (' + actions + ')' if actions else ''}; {c['errors']} error{'s' if c['errors'] != 1 else ''}, "
            f"{c['warnings']} warning{'s' if c['warnings'] != 1 else ''}; {c['changed_files']} changed files; "
            f"{self.elapsed:.1f} s"
        )

    # -- Markdown -------------------------------------------------------
    def markdown_blocks(self) -> list[str]:
        """The comment as indivisible blocks (the unit of splitting)."""
        blocks: list[str] = []
        errors, warnings = len(self.errors), len(self.warnings)
        if errors:
            verdict = f"❌ {errors} error{'s' if errors != 1 else ''}"
        elif self.entries:
            verdict = "✅ no problems"
        else:
            verdict = "✅ no dataset touched"
        if warnings:
            verdict += f", ⚠️ {warnings} warning{'s' if warnings != 1 else ''}"
        head = f"`{_md_code_text(self.head_ref)}`"
        if self.head_sha != self.head_ref:
            head += f" ({self.head_sha[:7]})"
        blocks.append(
            f"## catalog-bot check: {verdict}\n\n"
            f"Base `{_md_code_text(self.base_ref)}` ({self.base_sha[:7]}) → head {head} · "
            f"environment `{_md_code_text(self.environment)}`"
        )
        if self.notices:
            blocks.append("\n".join(f"> \u2139\ufe0f {_md_text(n)}" for n in self.notices))
        if self.problems:
            has_errors = any(p.severity is Severity.ERROR for p in self.problems)
            summary = f"{'❌' if has_errors else '⚠️'} Catalog problems ({len(self.problems)})"
            blocks.append(_details(summary, _problem_list(self.problems), open_=has_errors))
        if self.entries:
            rows = ["| dataset | status | + | ~ | - |", "|---|---|--:|--:|--:|"]
            for e in self.entries:
                added, changed, removed = e.counts
                rows.append(f"| {_entry_name(e)} | {_entry_status(e)} | {added} | {changed} | {removed} |")
            blocks.append("\n".join(rows))
        for e in self.entries:
            if e.action is Action.UNCHANGED and not e.problems:
                continue
            lines = [f"### {ICONS[e.action]} {_entry_name(e)}: {e.action.value}"]
            lines += [f"- {_md_text(r)}" for r in e.reasons]
            blocks.append("\n".join(lines))
            if e.problems:
                n_err, n_warn = len(e.errors), len(e.warnings)
                icon = "❌" if n_err else "⚠️" if n_warn else "\u2139\ufe0f"
                summary = f"{icon} Problems in `{e.dataset}` ({len(e.problems)})"
                blocks.append(_details(summary, _problem_list(e.problems), open_=bool(n_err)))
            section = self.data.get(e.dataset)
            if section is not None and section.shown:
                blocks.append(section.markdown())
            for kind, diff in e.diffs.items():
                if not (section is not None and section.status == "new" and diff.created):
                    blocks.append(_diff_block(e.dataset, kind, diff))
        commands = self.next_commands()
        if commands:
            if self.errors:
                text = (
                    "**Next:** fix the errors above and push; the check runs again. Once it is clean, merging "
                    "publishes the datasets listed below; to re-publish one later from the default branch:"
                )
            else:
                text = (
                    "**Next:** merging publishes these datasets. To (re-)publish them from the default branch, "
                    "comment (one command per comment):"
                )
            preview = " ".join(self.publish_ids()[:COMMAND_MAX_DATASETS])
            blocks.append(
                f"{text}\n\n```\n" + "\n".join(commands) + "\n```\n\n"
                f"To try this branch first: `/catalog preview {preview}`"
            )
        c = self.counts()
        actions = " · ".join(f"{c[a.value]} {a.value}" for a in Action if c[a.value])
        blocks.append(
            "---\n"
            f"<sub>{c['datasets']} dataset{'s' if c['datasets'] != 1 else ''} touched"
            f"{' (' + actions + ')' if actions else ''} · {_plural(c['errors'], 'error')} · "
            f"{_plural(c['warnings'], 'warning')} · "
            f"{c['changed_files']} changed files · catalog-bot check in {self.elapsed:.1f} s</sub>"
        )
        return [mask(b) for b in blocks]

    def to_markdown(self, max_chars: int = 65000) -> list[str]:
        """The PR comment body, split into several bodies when longer than ``max_chars``.

        Each body starts with its hidden marker (:func:`part_marker`); a
        block larger than a whole body is cut inside, keeping its fences
        and ``<details>`` closed.
        """
        if max_chars < 400:
            raise ValueError("max_chars must be at least 400")
        blocks = self.markdown_blocks()
        reserve = 80  # marker + "part i of n" line
        budget = max_chars - reserve
        parts: list[list[str]] = [[]]
        size = 0
        for block in blocks:
            if len(block) > budget:
                block = _cut_block(block, budget)
            add = len(block) + 2
            if parts[-1] and size + add > budget:
                parts.append([])
                size = 0
            parts[-1].append(block)
            size += add
        total = len(parts)
        bodies = []
        for i, part in enumerate(parts, start=1):
            head = part_marker(i)
            if total > 1:
                head += f"\n<sub>part {i} of {total}</sub>"
            bodies.append(head + "\n" + "\n\n".join(part) + "\n")
        return bodies


# -- Markdown helpers ------------------------------------------------------
_MD_SPECIAL = re.compile(r"([<>&])")


def _md_text(text: str) -> str:
    """Free text safe inside Markdown/HTML (no tag can open or close a block)."""
    return _MD_SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;", "&": "&amp;"}[m.group(1)], text)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _md_code_text(text: str) -> str:
    return text.replace("`", "'")


def _code(text: str) -> str:
    """An inline code span that survives backticks in ``text``."""
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fence(lines: Iterable[str]) -> str:
    """A code fence longer than any backtick run in the content."""
    run = max((len(m) for line in lines for m in re.findall(r"`{3,}", line)), default=2)
    return "`" * max(3, run + 1)


def _entry_name(e: PlanEntry) -> str:
    return f"`{e.dataset}`" if not e.old_id else f"`{e.old_id}` → `{e.dataset}`"


def _entry_status(e: PlanEntry) -> str:
    status = f"{ICONS[e.action]} {e.action.value}"
    if e.errors:
        status += f" · ❌ {len(e.errors)}"
    if e.warnings:
        status += f" · ⚠️ {len(e.warnings)}"
    if e.breaking:
        status += " · schema"
    return status


def _problem_list(problems: list[Problem]) -> str:
    lines = []
    for p in problems:
        icon = _SEVERITY_ICON[p.severity]
        text = f"- {icon} {_code(p.location())} [{_md_text(p.code)}] {_md_text(p.message)}"
        if p.pointer:
            text += f" (at {_code(p.pointer)})"
        if p.hint:
            text += f"<br>**Fix:** {_md_text(p.hint)}"
        lines.append(text)
    return "\n".join(lines)


def _details(summary: str, body: str, *, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{summary}</summary>\n\n{body}\n\n</details>"


def _diff_block(dataset: str, kind: str, diff: DocumentDiff) -> str:
    a, c, r = diff.counts
    lines = diff.lines()
    shown = lines[:MAX_DIFF_LINES]
    more = len(lines) - len(shown)
    fence = _fence(shown)
    body = f"{fence}diff\n" + "\n".join(shown) + f"\n{fence}"
    if more:
        body += f"\n\n… {more} more changes (see the JSON report: `catalog-bot check --format json`)"
    if diff.breaking:
        body = "**Schema change (data is re-published):** " + _md_text(limited(diff.breaking)) + "\n\n" + body
    file = {"collection": "collection.jsonnet"}.get(kind, f"{kind}.json" if kind != "pipeline" else "pipeline.yaml")
    if diff.created:
        summary = f"<code>{file}</code> (new)"
    elif diff.deleted:
        summary = f"<code>{file}</code> (removed)"
    else:
        summary = f"<code>{file}</code>: +{a} ~{c} -{r}"
    return _details(f"{summary} in <code>{dataset}</code>", body)


def _cut_block(block: str, budget: int) -> str:
    """Shorten one oversize block; an open code fence and ``<details>`` are closed again."""
    note = "… (cut: too long for one comment; see the job summary or the JSON report)"
    closing_details = block.startswith("<details")
    reserve = len(note) + 40
    keep: list[str] = []
    size = 0
    fence: str | None = None
    for line in block.split("\n"):
        if line == "</details>":
            break
        line = line if len(line) <= 1000 else line[:999] + "…"
        if size + len(line) + 1 > budget - reserve:
            break
        keep.append(line)
        size += len(line) + 1
        match = re.match(r"^(`{3,})", line)
        if match:
            fence = None if fence and match.group(1).startswith(fence) else (fence or match.group(1))
    if fence:
        keep.append(fence)
    keep += ["", note]
    if closing_details:
        keep += ["", "</details>"]
    return "\n".join(keep)


def _problem_text(p: Problem) -> str:
    color = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.NOTICE: "blue"}[p.severity]
    return f"[{color}]{rich_escape(mask(p.format()))}[/]"


def write_step_summary(path: Path, markdown: str) -> None:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` (the runner concatenates steps)."""
    with path.open("a", encoding="utf-8") as fh:
        fh.write(mask(markdown))
        if not markdown.endswith("\n"):
            fh.write("\n")
