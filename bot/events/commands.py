"""``/catalog <command> [args]`` comment commands: strict parsing and help.

Why strict: the text comes from anyone who can comment on a public
repository and ends up as dataset ids, environment names and workflow
parameters.  We accept exactly ``/catalog`` + a known command + dataset ids
(the folder-name rule) + known ``key=value`` options, and reject everything
else -- shell metacharacters, ``../``, unknown options -- with a short, polite
answer and the help text.  Nothing here runs anything; it only turns one
line into a :class:`Command` (pure, no I/O).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.catalog.layout import DATASET_ID
from bot.errors import CommandError

PREFIX = "/catalog"
MAX_DATASETS = 20
ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9._=/-]+$")
_SHELL = re.compile(r"[;&|$`<>(){}\[\]*?!~'\"\\#%^]")


@dataclass(frozen=True)
class CommandSpec:
    """Arity and options of one command; ``where`` says on what it may be used."""

    name: str
    summary: str
    min_args: int = 0
    max_args: int = 0
    options: tuple[str, ...] = ()
    where: str = "any"  # any | pr | issue
    usage: str = ""


SPECS: dict[str, CommandSpec] = {
    s.name: s
    for s in (
        CommandSpec("help", "show this help"),
        CommandSpec("check", "re-run the check of this pull request", where="pr"),
        CommandSpec("diff", "show what this pull request changes in one dataset", 1, 1, where="pr", usage="DATASET"),
        CommandSpec(
            "preview",
            "publish this PR's datasets as `pr-<n>-<id>` (removed when it closes)",
            1,
            MAX_DATASETS,
            ("env",),
            "pr",
            "DATASET... [env=NAME]",
        ),
        CommandSpec(
            "publish",
            "publish datasets from the default branch",
            1,
            MAX_DATASETS,
            ("env",),
            usage="DATASET... [env=NAME]",
        ),
        CommandSpec("harvest", "harvest the external metadata record of datasets", 1, MAX_DATASETS, usage="DATASET..."),
        CommandSpec("status", "show the latest publish of a dataset", 1, 1, usage="DATASET"),
        CommandSpec("cancel", "cancel a running publish of a dataset", 1, 1, ("env",), usage="DATASET [env=NAME]"),
        CommandSpec("generate", "open a pull request that adds the dataset described in this issue", where="issue"),
    )
}


@dataclass(frozen=True)
class Command:
    """A parsed command: name, dataset ids, options (all validated)."""

    name: str
    datasets: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    raw: str = ""

    @property
    def env(self) -> str | None:
        """The ``env=`` option, if given."""
        return self.options.get("env")


def is_command(body: str | None) -> bool:
    """Does the comment's first line address the bot (``/catalog`` or ``/catalog ...``)?"""
    first = first_line(body)
    return first == PREFIX or first.startswith(PREFIX + " ") or first.startswith(PREFIX + "\t")


def first_line(body: str | None) -> str:
    """The first non-empty line, stripped (commands live there only)."""
    for line in (body or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def parse_command(body: str) -> Command:
    """Parse the first line of a comment; raise :class:`CommandError` with a polite message.

    The caller checks :func:`is_command` first; a comment that does not start
    with ``/catalog`` is not for us and is ignored without an answer.
    """
    line = first_line(body)
    if not is_command(line):
        raise CommandError("this comment is not a /catalog command")
    rest = line[len(PREFIX) :].strip()
    if len(line) > 500:
        raise CommandError("the command line is too long (at most 500 characters)")
    if not rest:
        return Command("help", raw=line)
    if _SHELL.search(rest):
        bad = "".join(sorted(set(_SHELL.findall(rest))))
        raise CommandError(f"the command contains characters that are not allowed: {bad}")
    tokens = rest.split()
    name = tokens[0].lower()
    spec = SPECS.get(name)
    if spec is None:
        raise CommandError(f"unknown command `{_show(tokens[0])}`")
    args: list[str] = []
    options: dict[str, str] = {}
    for token in tokens[1:]:
        if not _SAFE_TOKEN.fullmatch(token):
            raise CommandError(f"`{_show(token)}` contains characters that are not allowed")
        if "=" in token:
            key, _, value = token.partition("=")
            if key not in spec.options:
                allowed = ", ".join(f"`{o}=`" for o in spec.options) or "none"
                raise CommandError(f"unknown option `{_show(key)}=` for `{name}` (allowed: {allowed})")
            if key in options:
                raise CommandError(f"option `{key}=` given twice")
            if key == "env" and not ENV_NAME.fullmatch(value):
                raise CommandError(f"`{_show(value)}` is not a valid environment name")
            options[key] = value
            continue
        if "/" in token or ".." in token or not DATASET_ID.fullmatch(token):
            raise CommandError(
                f"`{_show(token)}` is not a valid dataset id "
                "(2-63 characters: a-z, 0-9 and '-', starting with a letter or digit)"
            )
        if token not in args:
            args.append(token)
    if not spec.min_args <= len(args) <= spec.max_args:
        want = f"`/catalog {name}{' ' + spec.usage if spec.usage else ''}`"
        raise CommandError(f"`{name}` takes {_arity(spec)}; usage: {want}")
    return Command(name, tuple(args), options, raw=line)


def _arity(spec: CommandSpec) -> str:
    if spec.max_args == 0:
        return "no arguments"
    if spec.min_args == spec.max_args:
        return f"exactly {spec.min_args} dataset id{'s' if spec.min_args != 1 else ''}"
    return f"{spec.min_args} to {spec.max_args} dataset ids"


def _show(text: str) -> str:
    """Echo user text safely inside inline code (no backticks, no live @mention, bounded length)."""
    return text.replace("`", "'").replace("@", "@\u200b")[:64]


def help_text(permissions: dict[str, str] | None = None) -> str:
    """The help message (Markdown), with the permission each command needs."""
    rows = ["| command | what it does | needs |", "|---|---|---|"]
    for spec in SPECS.values():
        usage = f"/catalog {spec.name}{' ' + spec.usage if spec.usage else ''}"
        where = {"pr": " (pull requests)", "issue": " (dataset issues)"}.get(spec.where, "")
        need = (permissions or {}).get(spec.name, "")
        rows.append(f"| `{usage}` | {spec.summary}{where} | {need} |")
    return (
        "**catalog-bot commands** (on the first line of a comment):\n\n"
        + "\n".join(rows)
        + "\n\nDataset ids are folder names under `datasets/`; options are `key=value` (only `env=`)."
    )
