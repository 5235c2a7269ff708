"""One error hierarchy for the whole bot.

Why one tree: the CLI maps every failure to an exit code and a one-line
message in a single place (``bot.cli``), adapters translate library
exceptions (botocore, httpx, PyGithub) into these at their boundary, and
nothing else needs to know which library raised.  Messages are built from
data (file, field, service, status) so that a user can act on them without a
traceback; secrets are never part of the data we format.

Exit codes: 1 means "the catalog has problems" (the user must edit files),
2 means "usage or internal error" (the command was wrong, or we are).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


class Severity(StrEnum):
    """How bad a problem is; only errors fail a check."""

    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the catalog, located precisely enough to fix.

    ``pointer`` is an RFC 6901 JSON pointer into the rendered document,
    ``line`` the 1-based line in ``file`` when we could map it back.
    """

    code: str
    message: str
    file: str | None = None
    pointer: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR
    dataset: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (enum as its value, ``None`` fields dropped)."""
        data = asdict(self)
        data["severity"] = self.severity.value
        return {k: v for k, v in data.items() if v is not None}

    def location(self) -> str:
        """``file:line:col`` (as much as is known), for terminal output."""
        loc = self.file or "<catalog>"
        if self.line:
            loc += f":{self.line}"
            if self.column:
                loc += f":{self.column}"
        return loc

    def format(self) -> str:
        """One human line: location, code, message, pointer and hint."""
        text = f"{self.location()}: {self.severity.value} [{self.code}] {self.message}"
        if self.pointer:
            text += f" (at {self.pointer})"
        if self.hint:
            text += f" -- fix: {self.hint}"
        return text


class BotError(Exception):
    """Base of every error the bot raises on purpose.

    ``hint`` tells the user how to fix it; ``exit_code`` is what the CLI
    returns.  ``str(err)`` is the complete, user-facing message.
    """

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} -- fix: {self.hint}" if self.hint else self.message


class UsageError(BotError):
    """The command line was wrong (unknown dataset, bad ref, bad option)."""

    exit_code = EXIT_USAGE


class CatalogError(BotError):
    """The catalog itself is malformed: a file the user must edit."""

    exit_code = EXIT_PROBLEMS

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        field: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.field = field
        self.line = line
        where = file or ""
        if file and line:
            where += f":{line}"
        if field:
            where += f" [{field}]" if where else f"[{field}]"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)

    def to_problem(self, code: str = "catalog", dataset: str | None = None) -> Problem:
        """Turn a fatal catalog error into a reportable problem."""
        msg = self.message.split(": ", 1)[-1] if self.file else self.message
        return Problem(
            code=code,
            message=msg,
            file=self.file,
            pointer=("/" + self.field.replace(".", "/")) if self.field else None,
            line=self.line,
            hint=self.hint,
            dataset=dataset,
        )


class ConfigError(CatalogError):
    """``catalog-bot.yaml`` or an environment setting is invalid."""


class RenderError(CatalogError):
    """Jsonnet failed to render (syntax, runtime, sandbox or limit)."""


class SchemaNotFound(CatalogError):
    """A ``$schema`` / ``stac_extensions`` URL is not in the offline mirror."""


@dataclass
class ValidationFailed(BotError):
    """Raised when a step must stop because validation found errors."""

    problems: list[Problem] = field(default_factory=list)
    context: str = "validation"

    def __post_init__(self) -> None:
        errors = [p for p in self.problems if p.severity is Severity.ERROR]
        first = errors[0].format() if errors else "no details"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        BotError.__init__(self, f"{self.context} failed: {first}{more}")
        self.exit_code = EXIT_PROBLEMS


class DataError(BotError):
    """Source data cannot be converted (bad column, type, range, file)."""

    exit_code = EXIT_PROBLEMS

    def __init__(
        self, message: str, *, file: str | None = None, field: str | None = None, hint: str | None = None
    ) -> None:
        self.file = file
        self.field = field
        prefix = ""
        if file:
            prefix = f"{file}"
            if field:
                prefix += f" [{field}]"
            prefix += ": "
        elif field:
            prefix = f"[{field}]: "
        super().__init__(prefix + message, hint=hint)


class SchemaChanged(BotError):
    """The data's generated schema differs from the curated one (the gate)."""

    exit_code = EXIT_PROBLEMS

    def __init__(self, dataset: str, differences: list[str]) -> None:
        self.dataset = dataset
        self.differences = differences
        listing = "; ".join(differences)
        super().__init__(
            f"dataset {dataset}: data schema changed: {listing}",
            hint="review the change; if intended, update the curated table/grid schema in the catalog in a pull request",
        )


class StepError(BotError):
    """A pipeline step failed; names the step and the dataset."""

    exit_code = EXIT_PROBLEMS

    def __init__(self, step: str, dataset: str, cause: BaseException) -> None:
        self.step = step
        self.dataset = dataset
        self.cause = cause
        super().__init__(f"step {step} failed for dataset {dataset}: {cause}")


class ServiceError(BotError):
    """An external service failed (S3, STAC API, pygeoapi, Argo, GitHub, CSW).

    ``url`` must already be stripped of credentials: use :func:`redact_url`.
    ``retry_after``: seconds the service asked us to wait (a rate limit);
    :func:`bot.adapters.retry.retry_call` honours it.
    """

    exit_code = EXIT_PROBLEMS

    def __init__(
        self,
        service: str,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        hint: str | None = None,
        transient: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.service = service
        self.retry_after = retry_after
        self.url = redact_url(url) if url else None
        self.status = status
        self.transient = transient
        parts = [service]
        if status is not None:
            parts.append(f"HTTP {status}")
        if self.url:
            parts.append(self.url)
        super().__init__(f"{' '.join(parts)}: {message}", hint=hint)


class AuthError(ServiceError):
    """Credentials were rejected; the message never contains them."""


class CommandError(BotError):
    """A ``/catalog`` comment command was refused or malformed."""

    exit_code = EXIT_USAGE


def redact_url(url: str) -> str:
    """Drop ``user:password@`` and credential-looking query parameters."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    secret_keys = {
        "token",
        "access_token",
        "key",
        "secret",
        "password",
        "sig",
        "signature",
        "x-amz-signature",
        "x-amz-credential",
    }
    query = urlencode(
        [(k, "***" if k.lower() in secret_keys else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
