"""Configuration: ``catalog-bot.yaml`` and process settings.

Why here and only here: this module is the single reader of ``os.environ``
and of ``catalog-bot.yaml``.  Everything else receives frozen objects, which
keeps pure code testable and makes it obvious where a secret could enter
(only :class:`Settings`, whose secret fields are never printed).

The embedded ``local`` environment means a catalog without any
``environments`` section still publishes: to a folder, a static STAC catalog
and a pygeoapi config file.
"""

import contextlib
import os
import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from bot.errors import ConfigError, UsageError
from bot.structs import FieldError, InvalidData, Record, at_field, load

# Secret detection lives with the masker (bot.logging) so that light paths such as
# `catalog-bot render` decide on the render sandbox without importing this module; re-exported here.

CONFIG_FILE = "catalog-bot.yaml"
DEFAULT_OUTPUT = "_published"

# Repository permission levels, weakest first (GitHub's collaborator API).
PERMISSIONS = ("none", "read", "triage", "write", "maintain", "admin")


# The records are msgspec structs (bot.structs: unknown keys are typos, and typos are errors; frozen;
# keyword-only), not pydantic models: importing pydantic and building its validators was most of the
# start-up of every `catalog-bot step` pod (issue #16).


class ObjectStoreConfig(Record, frozen=True, kw_only=True):
    """Where ARCO data and Frictionless JSON go.

    ``local``: ``root`` is a folder (relative to the output dir);
    ``s3``: buckets on ``endpoint_url`` (None = AWS), credentials only from
    the environment (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``).
    """

    kind: Literal["local", "s3"] = "local"
    root: str = "data"
    endpoint_url: str | None = None
    region: str | None = None
    public_bucket: str = "catalog-public"
    limited_bucket: str = "catalog-limited"
    prefix: str = ""
    public_base_url: str | None = None
    multipart_threshold_mb: Annotated[int, msgspec.Meta(ge=5)] = 16
    max_concurrency: Annotated[int, msgspec.Meta(ge=1, le=64)] = 8


class StacConfig(Record, frozen=True, kw_only=True):
    """``static``: a self-contained catalog folder; ``api``: stac-fastapi with Transactions."""

    kind: Literal["static", "api"] = "static"
    root: str = "stac"
    url: str | None = None
    catalog_id: str = "catalog"
    catalog_title: str = "Data catalog"


class PygeoapiConfig(Record, frozen=True, kw_only=True):
    """``config``: write resource YAMLs + assembled config; ``api``: admin API."""

    kind: Literal["config", "api"] = "config"
    root: str = "pygeoapi"
    url: str | None = None


class ArgoConfig(Record, frozen=True, kw_only=True):
    """Argo Server endpoint; the token comes from ``ARGO_TOKEN`` only."""

    url: str | None = None
    namespace: str = "argo"
    verify_tls: bool = True
    service_account_public: str = "catalog-bot-public"
    service_account_limited: str = "catalog-bot-limited"
    artifact_repository: str | None = None
    ui_url: str | None = None
    # Clone URL of the catalog repository for the steps' git artifact
    # (default https://github.com/<repository>.git; set it for GitHub Enterprise).
    git_url: str | None = None


class EnvironmentConfig(Record, frozen=True, kw_only=True):
    """One publish target (``local``, ``dev``, ``prod``...)."""

    engine: Literal["local", "argo"] = "local"
    output: str = DEFAULT_OUTPUT
    object_store: ObjectStoreConfig = ObjectStoreConfig()
    stac: StacConfig = StacConfig()
    # Where ``access: limited`` datasets are catalogued; None: nowhere (never the public ``stac``).
    limited_stac: StacConfig | None = None
    pygeoapi: PygeoapiConfig = PygeoapiConfig()
    argo: ArgoConfig = ArgoConfig()
    ext_vars: dict[str, str] = {}


class CommandPolicy(Record, frozen=True, kw_only=True):
    """Minimum repository permission per ``/catalog`` command."""

    help: str = "read"
    check: str = "read"
    diff: str = "read"
    status: str = "read"
    preview: str = "write"
    generate: str = "write"
    harvest: str = "write"
    cancel: str = "maintain"
    publish: str = "maintain"

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value not in PERMISSIONS:
                raise FieldError(name, f"unknown permission {value!r}; use one of {', '.join(PERMISSIONS)}")


class ImageConfig(Record, frozen=True, kw_only=True):
    """The container image that runs data-heavy steps under Argo."""

    repository: str = "catalog-bot"
    tag: str = "latest"


# Names that can never be declared expandable: a ``${VAR}`` of the catalog ends
# up in rendered templates and posted reports, so it must not reach a secret.
_SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH|COOKIE|SESSION|WEBHOOK|PRIVATE)|^(AWS_|ARGO_|ACTIONS_|GITHUB_)",
    re.IGNORECASE,
)


class RenderLimits(Record, frozen=True, kw_only=True):
    """Limits of the child process that evaluates (possibly pull-request) Jsonnet."""

    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 60.0
    memory_mb: Annotated[int, msgspec.Meta(ge=256, le=8192)] = 1024
    max_output_mb: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 64


class NetworkConfig(Record, frozen=True, kw_only=True):
    """Rules for remote sources (``source.path`` with ``https://``/``s3://``).

    ``allow`` lists host names, addresses or networks that may be loopback,
    link-local or private (by default those are refused, so a pull request
    cannot make the bot fetch ``169.254.169.254`` or an internal service).
    The limits bound what one source may cost: ``max_download_mb`` per file,
    ``timeout_s`` per connect/read, ``deadline_s`` for one file in total,
    ``attempts`` per request (transient faults are retried with backoff).
    """

    allow: list[str] = []
    max_download_mb: Annotated[int, msgspec.Meta(ge=1)] = 4096
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    deadline_s: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5

    def __post_init__(self) -> None:
        if self.allow:
            from bot.sources.addresses import AllowList

            with at_field("allow"):  # the message names the bad network
                AllowList.parse(self.allow)


class CatalogConfig(Record, frozen=True, kw_only=True):
    """The parsed ``catalog-bot.yaml`` of a catalog repository.

    ``variables``: the process environment variables that ``${VAR}`` may
    expand (declared non-secret).  Privileged jobs read this file from the
    default branch only, so a pull request cannot add a name to the list.
    """

    version: Literal[1] = 1
    title: str = "Data catalog"
    default_branch: str = "main"
    default_environment: str = "local"
    environments: dict[str, EnvironmentConfig] = {}
    commands: CommandPolicy = CommandPolicy()
    image: ImageConfig = ImageConfig()
    labels: dict[str, str] = msgspec.field(default_factory=lambda: {"dataset": "dataset", "harvest": "harvest"})
    variables: list[str] = []
    render: RenderLimits = RenderLimits()
    network: NetworkConfig = NetworkConfig()

    def __post_init__(self) -> None:
        for name in self.variables:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise FieldError("variables", f"{name!r} is not an environment variable name")
            if _SECRET_NAME.search(name):
                raise FieldError(
                    "variables",
                    f"{name} looks like a secret and cannot be expanded into the catalog; "
                    "credentials are read by the clients from the environment, never through ${VAR}",
                )

    def environment(self, name: str | None = None, environ: Mapping[str, str] | None = None) -> EnvironmentConfig:
        """The named environment, ``${VAR}`` placeholders expanded; ``local`` is always there (embedded default)."""
        name = name or self.default_environment
        if name in self.environments:
            return expand_environment(self.environments[name], name, environ, allowed=self.variables)
        if name == "local":
            return EnvironmentConfig()
        known = ", ".join(sorted({"local", *self.environments}))
        raise ConfigError(
            f"unknown environment {name!r}",
            file=CONFIG_FILE,
            field="environments",
            hint=f"use one of: {known}, or add it under environments:",
        )


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_placeholders(
    value: Any, environ: Mapping[str, str], *, field: str = "", allowed: Collection[str] | None = None
) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of ``value`` (recursively).

    Why: one ``dev``/``prod`` environment block can name its endpoints by
    variable (``endpoint_url: ${CATALOG_BOT_DEV_S3_URL:-http://127.0.0.1:8333}``)
    so that the same catalog points at whatever the machine runs, without
    editing the catalog.  Only the selected environment is expanded, so a
    variable of ``prod`` need not exist on a laptop.  An unset variable
    without default is a :class:`ConfigError` naming the field and variable.
    Credentials never go through here: they are read by the clients from the
    process environment (``AWS_ACCESS_KEY_ID`` ...), never from the catalog.
    With ``allowed`` (the catalog's ``variables``), any other name is an
    error: a pull request must not be able to expand a secret into a
    rendered field that ends up in a public comment.
    """
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if allowed is not None and name not in allowed:
                raise ConfigError(
                    f"${{{name}}} is not a declared variable",
                    file=CONFIG_FILE,
                    field=field or None,
                    hint=f"add {name} to `variables:` in catalog-bot.yaml on the default branch "
                    "(only non-secret names are accepted)",
                )
            found = environ.get(name)
            if found:
                return found
            if default is not None:
                return default
            raise ConfigError(
                f"environment variable {name} is not set",
                file=CONFIG_FILE,
                field=field or None,
                hint=f"export {name}=... (dev services: source .dev-services/dev.env) or write ${{{name}:-default}}",
            )

        return _PLACEHOLDER.sub(sub, value)
    if isinstance(value, Mapping):
        return {
            k: expand_placeholders(v, environ, field=f"{field}.{k}" if field else str(k), allowed=allowed)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [expand_placeholders(v, environ, field=f"{field}.{i}", allowed=allowed) for i, v in enumerate(value)]
    return value


def expand_environment(
    env: EnvironmentConfig,
    name: str,
    environ: Mapping[str, str] | None = None,
    *,
    allowed: Collection[str] | None = None,
) -> EnvironmentConfig:
    """``env`` with its placeholders expanded from ``environ`` (default ``os.environ``), re-validated."""
    data = msgspec.to_builtins(env)
    expanded = expand_placeholders(
        data, os.environ if environ is None else environ, field=f"environments.{name}", allowed=allowed
    )
    if expanded == data:
        return env
    try:
        return load(expanded, EnvironmentConfig)
    except InvalidData as exc:
        found = exc.located
        raise ConfigError(
            f"after expanding ${{...}} placeholders: {found.message}",
            file=CONFIG_FILE,
            field=f"environments.{name}.{found.field}",
            hint=found.hint,
        ) from None


def load_catalog_config(root: Path) -> CatalogConfig:
    """Read and validate ``catalog-bot.yaml``; a missing file means defaults."""
    path = root / CONFIG_FILE
    if not path.exists():
        return CatalogConfig()
    data = load_yaml(path)
    if data is None:
        return CatalogConfig()
    if not isinstance(data, Mapping):
        raise ConfigError("must be a YAML mapping", file=CONFIG_FILE, hint="start the file with `version: 1`")
    try:
        return load(data, CatalogConfig)
    except InvalidData as exc:
        raise config_error(exc, CONFIG_FILE) from None


def config_error(exc: InvalidData, file: str) -> ConfigError:
    """The located validation error of ``file`` as the error the CLI and the PR report show."""
    found = exc.located
    return ConfigError(found.message, file=file, field=found.field or None, hint=found.hint)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file with errors that carry file and line (and the limits of :func:`parse_yaml`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 (byte {exc.start})", file=str(path), hint="save the file as UTF-8") from None
    return parse_yaml(text, str(path))


MAX_YAML_BYTES = 4 * 1024 * 1024
MAX_YAML_ANCHORS = 100
MAX_YAML_NODES = 500_000
MAX_JSON_BYTES = 32 * 1024 * 1024


def parse_yaml(text: str | bytes, source: str) -> Any:
    """Parse YAML from a pull request or a remote with limits; errors name ``source`` and the line.

    Why limits: aliases are references, so an "anchor bomb" (``b: [*a, *a, ...]``
    nine levels deep) parses instantly into a graph that expands to 10^9
    nodes the moment anything walks it (validation, diff normalisation,
    JSON).  We count the expanded size of the composed graph (memoized, so
    cheap) and refuse more than :data:`MAX_YAML_NODES` nodes or
    :data:`MAX_YAML_ANCHORS` anchors, and files over :data:`MAX_YAML_BYTES`.
    """
    size = len(text)
    if size > MAX_YAML_BYTES:
        raise ConfigError(
            f"YAML of {size:,} bytes is over the {MAX_YAML_BYTES // (1024 * 1024)} MB limit",
            file=source,
            hint="catalog YAML files are small; move data out of the file",
        )
    try:
        if (b"&" in text) if isinstance(text, bytes) else ("&" in text):
            _check_aliases(text, source)
        return _bounded_depth(yaml.load(text, Loader=YAML_LOADER), source)  # noqa: S506 - a safe loader
    except RecursionError:
        raise _too_deep(source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", file=source, line=line, hint="fix the YAML syntax") from None


def _check_aliases(text: str | bytes, source: str) -> None:
    anchors = sum(1 for ev in yaml.parse(text, Loader=YAML_LOADER) if getattr(ev, "anchor", None))
    if anchors > MAX_YAML_ANCHORS:
        raise ConfigError(
            f"YAML uses {anchors} anchors (limit {MAX_YAML_ANCHORS})",
            file=source,
            hint="write the values out instead of using many &anchors / *aliases",
        )
    root = yaml.compose(text, Loader=YAML_LOADER)
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)] if root is not None else []
    while stack:  # post-order walk of the graph: expanded size of each node, each node once
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done or not children:
            sizes[id(node)] = 1 + sum(sizes.get(id(c), 1) for c in children)
            if sizes[id(node)] > MAX_YAML_NODES:
                raise ConfigError(
                    f"YAML aliases expand to more than {MAX_YAML_NODES:,} values (an anchor bomb?)",
                    file=source,
                    hint="write the values out instead of nesting *aliases of aliases",
                )
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def parse_json(text: str | bytes, source: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """``json.loads`` after a size check (the cap applies before any parsing); ``ValueError`` on bad JSON."""
    import json

    if len(text) > max_bytes:
        raise ConfigError(
            f"JSON of {len(text):,} bytes is over the {max_bytes // (1024 * 1024)} MB limit",
            file=source,
            hint="catalog JSON files are small; keep data out of them",
        )
    try:
        return _bounded_depth(json.loads(text), source)
    except RecursionError:
        raise _too_deep(source) from None


MAX_DEPTH = 200


def _too_deep(source: str) -> ConfigError:
    return ConfigError(
        f"nested more than {MAX_DEPTH} levels deep", file=source, hint="catalog documents are shallow; flatten it"
    )


def _bounded_depth(doc: Any, source: str) -> Any:
    """``doc`` unchanged, or an error when it nests deeper than :data:`MAX_DEPTH` (diffs recurse)."""
    stack: list[tuple[Any, int]] = [(doc, 0)]
    seen: set[int] = set()
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(source)
        if isinstance(value, dict | list) and id(value) not in seen:
            seen.add(id(value))
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items if isinstance(v, dict | list))
    return doc


# libyaml's safe loader when available: ~10x faster on large configs, same results.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Secret:
    """A secret string that never prints itself: ``str`` and ``repr`` show ``**********``.

    Why a type: a token in a settings object ends up in a ``repr`` (a debug
    log, an exception message) sooner or later; the value is only reachable
    by asking for it, :meth:`get_secret_value`, at the one place that sends it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The secret itself (for the client that sends it, never for output)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class Settings(Record, frozen=True, kw_only=True):
    """Process-level settings from the environment (never from the catalog).

    Secrets are :class:`Secret` so that ``repr`` and logs show ``**********``.
    """

    schemas_dir: Path | None = None
    schema_fetch: bool = True
    commit: str | None = None
    run_id: str | None = None
    cache_dir: Path = Path.home() / ".cache" / "catalog-bot"
    jsonnet_engine: str = "auto"
    github_token: Secret | None = None
    github_api_url: str = "https://api.github.com"
    github_repository: str | None = None
    github_actions: bool = False
    step_summary: Path | None = None
    argo_token: Secret | None = None
    argo_server: str | None = None
    slack_webhook_url: Secret | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from ``environ`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ

        def secret(name: str) -> Secret | None:
            value = env.get(name)
            return Secret(value) if value else None

        return cls(
            schemas_dir=Path(env["CATALOG_BOT_SCHEMAS"]) if env.get("CATALOG_BOT_SCHEMAS") else None,
            commit=env.get("CATALOG_BOT_COMMIT") or env.get("GITHUB_SHA"),
            run_id=env.get("CATALOG_BOT_RUN_ID") or env.get("GITHUB_RUN_ID"),
            schema_fetch=env.get("CATALOG_BOT_SCHEMA_FETCH", "1").lower() not in ("0", "false", "no", "off"),
            cache_dir=Path(env.get("CATALOG_BOT_CACHE") or Path.home() / ".cache" / "catalog-bot"),
            jsonnet_engine=env.get("CATALOG_BOT_JSONNET_ENGINE", "auto"),
            github_token=secret("GITHUB_TOKEN") or secret("CATALOG_BOT_TOKEN"),
            github_api_url=env.get("GITHUB_API_URL", "https://api.github.com"),
            github_repository=env.get("GITHUB_REPOSITORY"),
            github_actions=env.get("GITHUB_ACTIONS") == "true",
            step_summary=Path(env["GITHUB_STEP_SUMMARY"]) if env.get("GITHUB_STEP_SUMMARY") else None,
            argo_token=secret("ARGO_TOKEN"),
            argo_server=env.get("ARGO_SERVER"),
            slack_webhook_url=secret("CATALOG_BOT_SLACK_WEBHOOK"),
        )

    def provenance(self) -> dict[str, str]:
        """Catalog commit and run id of this run (recorded in STAC items), when known."""
        return {k: v for k, v in (("commit", self.commit), ("run_id", self.run_id)) if v}

    def secrets(self) -> list[str]:
        """Every secret value in force, for masking outputs."""
        out = []
        for value in (self.github_token, self.argo_token, self.slack_webhook_url):
            if value is not None and value.get_secret_value():
                out.append(value.get_secret_value())
        return out


DEV_ENV_KEYS = ("AWS_", "CATALOG_BOT_DEV_")


def dev_env_file() -> Path:
    """Where ``catalog-bot dev up`` (scripts/dev_services.py) writes the dev services' variables."""
    state = os.environ.get("CATALOG_BOT_DEV_STATE")
    return Path(state) / "dev.env" if state else Path(__file__).resolve().parents[1] / ".dev-services" / "dev.env"


def ensure_s3_credentials(env_name: str, env_cfg: Any) -> Path | None:
    """S3 without credentials: load the dev services' env file when it exists, else say what to run.

    Why: boto3's ``NoCredentialsError`` after minutes of conversion tells a
    newcomer nothing.  Only ``AWS_*`` and ``CATALOG_BOT_DEV_*`` lines are
    taken from the file, and only when the environment does not set them.
    Returns the file it loaded, if any (the caller re-reads the catalog
    configuration, whose ``${CATALOG_BOT_DEV_*}`` URLs may have changed).
    """
    if env_cfg.object_store.kind != "s3" or os.environ.get("AWS_ACCESS_KEY_ID"):
        return None
    if Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or Path.home() / ".aws" / "credentials").is_file():
        return None
    path = dev_env_file()
    if not path.is_file():
        raise UsageError(
            f"environment {env_name!r} publishes to S3 but no credentials are set (AWS_ACCESS_KEY_ID is empty)",
            hint="start the dev services and load their variables: `catalog-bot dev up` then "
            '`eval "$(catalog-bot dev env)"`; for a real bucket export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
        )
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.removeprefix("export ").partition("=")
        name = name.strip()
        if sep and name.startswith(DEV_ENV_KEYS) and name not in os.environ:
            import shlex

            os.environ[name] = shlex.split(value)[0] if value.strip() else ""
    return path


@contextlib.contextmanager
def spawn_environment(defaults: Mapping[str, str]) -> Iterator[None]:
    """``defaults`` in the environment while worker processes are spawned; a variable the user set wins.

    Why here: this module is the one that reads the environment.  Spawned
    workers start with the parent's environment, and some runtimes read a
    variable only at process start (Go's ``GOGC`` in the validation workers).
    """
    added = [name for name in defaults if name not in os.environ]
    for name in added:
        os.environ[name] = defaults[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
