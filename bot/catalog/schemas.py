"""Offline JSON Schema registry: canonical URL -> local file -> compiled validator.

Why offline: the bot runs in CI jobs and Argo pods that must not depend on
schemas.stacspec.org or GitHub Pages being up (or reachable at all), and a
validation result must not change because a remote file changed.  Schemas are
looked up by their *canonical URL* in a mirror directory laid out like
``/work/shared/contracts/schemas`` (``CATALOG_BOT_SCHEMAS``), then in a local
cache directory (files added with :meth:`SchemaRegistry.add`).  There is no
network fallback, ever: an unknown URL is a :class:`SchemaNotFound` that says
where to put the file.

Paths are *derived by rules* from the URL (one rule per publisher, see
:data:`MIRROR_RULES`), so a new STAC extension version works as soon as its
file is dropped into the mirror at the derived path.

Why compiled validators are cached: building a ``jsonschema`` validator and
resolving its ``$ref`` graph costs far more than validating one small
document; validating 1,000 datasets builds each validator once per process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import jsonschema_specifications
from jsonschema import validators
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT7

from bot.errors import SchemaNotFound

ENV_HINT = "CATALOG_BOT_SCHEMAS"

# Canonical STAC core schema URLs by version (the versions we validate).
STAC_VERSIONS = ("1.0.0", "1.1.0")
STAC_CORE = "https://schemas.stacspec.org/v{version}/{kind}-spec/json-schema/{kind}.json"


def stac_core_url(version: str, kind: str) -> str:
    """Canonical URL of the STAC core schema for ``kind`` (item/collection/catalog)."""
    return STAC_CORE.format(version=version, kind=kind)


def normalize_url(url: str) -> str:
    """The lookup key of a schema URL: no fragment, no trailing ``#``, ``https``.

    Many STAC ``$id``s end in ``#`` and refs mix ``http``/``https``; the same
    document must get the same key either way.
    """
    url = url.strip().split("#", 1)[0]
    if url.startswith("http://") and not url.startswith("http://json-schema.org/"):
        url = "https://" + url[len("http://") :]
    return url


def _raw_github(parts: list[str]) -> str | None:
    """``raw.githubusercontent.com/<owner>/<repo>/<ref>/<path>`` -> ``<repo>-<ref>/<path>``.

    ``refs/heads/<branch>`` and ``refs/tags/<tag>`` are shortened to the
    branch or tag name.  ``HEAD`` is kept as ``HEAD`` (resolved to the newest
    mirrored version by :meth:`SchemaRegistry.mirror_path`).
    """
    if len(parts) < 4:
        return None
    _owner, repo, *rest = parts
    if rest[:2] in (["refs", "heads"], ["refs", "tags"]) and len(rest) > 3:
        ref, path = rest[2], rest[3:]
    else:
        ref, path = rest[0], rest[1:]
    return f"{repo}-{ref}/" + "/".join(path)


def _stac_extension(parts: list[str]) -> str | None:
    """``/<ext>/<ver>/<file...>`` -> ``stac-extensions/<ext>/<ver>/json-schema/<file...>``."""
    if len(parts) < 3:
        return None
    ext, version, *rest = parts
    return f"stac-extensions/{ext}/{version}/json-schema/" + "/".join(rest)


def _stac_core(parts: list[str]) -> str | None:
    """``/v1.1.0/<spec>/json-schema/<file>`` -> ``stac-v1.1.0/<spec>/json-schema/<file>``."""
    if len(parts) < 2 or not parts[0].startswith("v"):
        return None
    return f"stac-{parts[0]}/" + "/".join(parts[1:])


def _prefixed(prefix: str, strip: int = 0) -> Callable[[list[str]], str | None]:
    def rule(parts: list[str]) -> str | None:
        return prefix + "/".join(parts[strip:]) if len(parts) > strip else None

    return rule


# Host -> rule turning the URL path segments into a mirror-relative path.
MIRROR_RULES: dict[str, Callable[[list[str]], str | None]] = {
    "schemas.stacspec.org": _stac_core,
    "stac-extensions.github.io": _stac_extension,
    "datapackage.org": _prefixed("frictionless-datapackage-v2/public/"),
    "specs.frictionlessdata.io": _prefixed("frictionless-v1/"),
    "geojson.org": _prefixed("geojson/"),
    "proj.org": _prefixed("projjson/"),
    "raw.githubusercontent.com": _raw_github,
}


def derive_mirror_path(url: str) -> str | None:
    """Mirror-relative path for a canonical schema URL, or ``None`` if no rule applies."""
    parts = urlsplit(normalize_url(url))
    rule = MIRROR_RULES.get(parts.netloc.lower())
    segments = [s for s in parts.path.split("/") if s]
    if rule is None or not segments or any(s in {".", ".."} for s in segments):
        return None
    return rule(segments)


def cache_file_name(url: str) -> str:
    """File name of a URL in the local cache: readable host/path plus a short hash."""
    key = normalize_url(url)
    parts = urlsplit(key)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", parts.netloc + parts.path).strip("_")[-100:]
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{safe}.{digest}"


_PREFIXED = re.compile(r"^[a-z][a-z0-9_-]*:[A-Za-z]")


def _external_refs(node: Any) -> set[str]:
    """Every ``$ref`` value in a schema that points outside the document."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                found.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _load_text(path: Path, text: str) -> Any:
    if path.suffix in {".yml", ".yaml"}:
        import yaml

        return yaml.safe_load(text)
    return json.loads(text)


# Hosts whose schemas may be downloaded into the cache (never arbitrary URLs from a PR).
FETCH_HOSTS = frozenset(
    {
        "schemas.stacspec.org",
        "stac-extensions.github.io",
        "datapackage.org",
        "specs.frictionlessdata.io",
        "geojson.org",
        "proj.org",
        "raw.githubusercontent.com",
    }
)
Fetcher = Callable[[str], bytes]


def _installed_fetcher() -> Fetcher | None:
    """The downloader when the CLI installed it before this module loaded (its install() is lazy).

    Looked up in ``sys.modules``, never imported: this module stays pure.
    """
    hook = sys.modules.get("bot.adapters.schema_fetch")
    fetcher: Fetcher | None = getattr(hook, "fetch_schema", None) if getattr(hook, "installed", False) else None
    return fetcher


_FETCHER: Fetcher | None = _installed_fetcher()


def set_fetcher(fetcher: Fetcher | None) -> None:
    """Install the download function (an adapter's; this module does no network I/O itself)."""
    global _FETCHER
    _FETCHER = fetcher


# Compiled jsonschema-rs twins of our jsonschema validators, by id (the validator is kept alive with it).
_FAST: dict[int, tuple[Any, Any]] = {}
_FAST_LOCK = threading.Lock()


def _fast_validator(validator: Any) -> Any | None:
    """A jsonschema-rs validator for the same schema, or None when it is not installed or cannot compile it.

    Why: the reference ``jsonschema`` validator costs ~30 ms per STAC item
    (deep ``allOf``/``oneOf`` trees); jsonschema-rs answers "valid?" in
    ~0.03 ms.  It only ever *accepts*: any document it rejects (or cannot
    judge) is validated again by ``jsonschema``, whose errors we report, so
    messages and verdicts on bad documents are unchanged.  Formats are
    checked (stricter than or equal to ours), and ``$ref`` resolves through
    the same offline registry.
    """
    entry = _FAST.get(id(validator))
    if entry is not None and entry[0] is validator:
        return entry[1]
    with _FAST_LOCK:
        entry = _FAST.get(id(validator))
        if entry is not None and entry[0] is validator:
            return entry[1]
        compiled = None
        try:
            import jsonschema_rs

            registry = validator._registry
            schema = validator.schema
            if isinstance(schema, dict) and "$schema" not in schema:
                schema = {**schema, "$schema": validator.META_SCHEMA["$schema"]}

            def retrieve(uri: str) -> Any:
                return registry.get_or_retrieve(uri).value.contents

            compiled = jsonschema_rs.validator_for(schema, retriever=retrieve, validate_formats=True)
        except Exception:  # not installed, an unsupported keyword or regex: jsonschema only
            compiled = None
        _FAST[id(validator)] = (validator, compiled)
        return compiled


def schema_errors(validator: Any, doc: Any) -> list[Any]:
    """``validator.iter_errors(doc)`` as a list; an unresolvable ``$ref`` becomes :class:`SchemaNotFound`.

    Why: ``referencing`` reports a missing schema as ``Unresolvable`` deep in
    validation; users need the URL and where to put the file instead.
    """
    from referencing.exceptions import Unresolvable

    fast = _fast_validator(validator)
    if fast is not None:
        # Whatever the fast path cannot judge (an error inside it), the reference validator decides.
        with contextlib.suppress(Exception):
            if fast.is_valid(doc):
                return []
    try:
        return list(validator.iter_errors(doc))
    except Unresolvable as exc:
        ref = getattr(exc, "ref", None) or getattr(getattr(exc, "_wrapped", None), "ref", None) or str(exc)
        seen: BaseException | None = exc
        for _ in range(8):  # walk the wrapper chain down to our own SchemaNotFound
            if seen is None or isinstance(seen, SchemaNotFound):
                break
            seen = getattr(seen, "_wrapped", None) or seen.__cause__ or seen.__context__
        if isinstance(seen, SchemaNotFound):
            raise seen from None
        raise SchemaNotFound(
            f"schema {ref} (referenced while validating) is not available",
            hint=f"add it to the mirror ({ENV_HINT}) or allow downloads (CATALOG_BOT_SCHEMA_FETCH=1)",
        ) from None


class SchemaRegistry:
    """Resolve schemas by canonical URL, offline, and hand out cached validators.

    ``mirror_dir``: a folder laid out like the shared contracts mirror;
    ``cache_dir``: a folder of files added by :meth:`add` (``<cache>/schemas``).
    Both may be ``None``; then only the JSON Schema meta-schemas (shipped with
    ``jsonschema``) resolve.
    """

    def __init__(
        self, mirror_dir: Path | None = None, cache_dir: Path | None = None, fetcher: Fetcher | None = None
    ) -> None:
        self.mirror_dir = Path(mirror_dir) if mirror_dir else None
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.fetcher = fetcher
        self._fetch_errors: dict[str, str] = {}
        self._contents: dict[str, Any] = {}
        self._validators: dict[str, Validator] = {}
        self._lock = threading.Lock()
        self.registry: Registry = Registry(retrieve=self._retrieve)  # type: ignore[call-arg]

    @classmethod
    def from_settings(cls, settings: Any) -> SchemaRegistry:
        """Registry for :class:`bot.config.Settings` (mirror from env, cache under the cache dir)."""
        cache = Path(settings.cache_dir) / "schemas" if settings.cache_dir else None
        fetcher = _FETCHER if getattr(settings, "schema_fetch", False) else None
        return cls(settings.schemas_dir, cache, fetcher)

    # Lookup -----------------------------------------------------------------

    def mirror_path(self, url: str) -> Path | None:
        """Where ``url`` lives (or would live) in the mirror; ``None`` if no rule or no mirror."""
        rel = derive_mirror_path(url)
        if rel is None or self.mirror_dir is None:
            return None
        path = self.mirror_dir / rel
        head = rel.split("/", 1)[0]
        if head.endswith("-HEAD") and not path.exists():
            # A moving ref: use the newest mirrored version of that repository.
            stem = head[: -len("HEAD")]
            rest = rel.split("/", 1)[1] if "/" in rel else ""
            for candidate in sorted(self.mirror_dir.glob(f"{stem}*"), reverse=True):
                if (candidate / rest).is_file():
                    return candidate / rest
        return path

    def cache_path(self, url: str) -> Path | None:
        """Where ``url`` lives (or would live) in the local cache."""
        return self.cache_dir / cache_file_name(url) if self.cache_dir else None

    def candidates(self, url: str) -> list[Path]:
        """Files tried for ``url``, in order (mirror, then cache)."""
        return [p for p in (self.mirror_path(url), self.cache_path(url)) if p is not None]

    def _not_found(self, url: str) -> SchemaNotFound:
        """The :class:`SchemaNotFound` for ``url``, with the hint saying where to put the file."""
        rel = derive_mirror_path(url)
        if rel and self.mirror_dir:
            hint = f"put the published schema file at {self.mirror_dir / rel} (or point {ENV_HINT} to a mirror with it)"
        elif rel:
            hint = f"set {ENV_HINT} to a schema mirror folder containing {rel}"
        else:
            hint = f"no mirror rule for this host: run `catalog-bot schemas add {url} FILE` with a copy of the schema"
        failed = self._fetch_errors.get(normalize_url(url))
        how = f"download failed: {failed}" if failed else "downloads are off or the host is not a schema host"
        return SchemaNotFound(f"schema {url} is not in the mirror or the cache ({how})", hint=hint)

    def get(self, url: str) -> Any:
        """The parsed schema document for ``url`` (raises :class:`SchemaNotFound`)."""
        key = normalize_url(url)
        if key in self._contents:
            return self._contents[key]
        meta = self._metaschema(key)
        if meta is not None:
            return meta.contents
        for path in self.candidates(key):
            if path.is_file():
                try:
                    contents = _load_text(path, path.read_text(encoding="utf-8"))
                except (ValueError, UnicodeDecodeError) as exc:
                    raise SchemaNotFound(
                        f"schema file {path} for {url} is not valid JSON/YAML: {exc}",
                        hint="replace it with an unmodified copy of the published schema",
                    ) from None
                self._contents[key] = contents
                return contents
        fetched = self._fetch(key)
        if fetched is not None:
            self._contents[key] = fetched
            return fetched
        raise self._not_found(url)

    def _fetch(self, key: str) -> Any | None:
        """Download a schema from a known schema host into the cache (once), if a fetcher is set."""
        from urllib.parse import urlsplit

        target = self.cache_path(key)
        if self.fetcher is None or target is None or urlsplit(key).hostname not in FETCH_HOSTS:
            return None
        if key in self._fetch_errors:
            return None
        try:
            data = self.fetcher(key)
            contents = _load_text(target, data.decode("utf-8"))
        except Exception as exc:  # any download/parse failure means "not available"
            self._fetch_errors[key] = f"{type(exc).__name__}: {exc}"[:200]
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
        return contents

    def has(self, url: str) -> bool:
        """Whether ``url`` resolves offline."""
        try:
            self.get(url)
        except SchemaNotFound:
            return False
        return True

    @staticmethod
    def _metaschema(key: str) -> Resource | None:
        for candidate in (key, key + "#"):
            try:
                return jsonschema_specifications.REGISTRY[candidate]
            except (KeyError, LookupError):
                continue
        return None

    def _retrieve(self, uri: str) -> Resource:
        """``referencing`` hook: every ``$ref`` outside a document comes through here."""
        key = normalize_url(uri)
        meta = self._metaschema(key)
        if meta is not None:
            return meta
        try:
            contents = self.get(key)
        except SchemaNotFound as exc:
            raise NoSuchResource(ref=uri) from exc  # type: ignore[call-arg]
        return Resource.from_contents(contents, default_specification=DRAFT7)

    def extension_prefixes(self, url: str) -> frozenset[str]:
        """Field prefixes a STAC extension defines (``sci`` for ``sci:doi``), from its schema.

        Empty for extensions without prefixed fields (e.g. ``version``): then
        "is the extension used?" cannot be told from field names.
        """
        key = "prefixes:" + normalize_url(url)
        cached = self._contents.get(key)
        if cached is None:
            names: set[str] = set()
            stack = [self.get(url)]
            while stack:
                node = stack.pop()
                if isinstance(node, dict):
                    for name, value in node.items():
                        if name in {"properties", "patternProperties"} and isinstance(value, dict):
                            names.update(k for k in value if _PREFIXED.match(k))
                        stack.append(value)
                elif isinstance(node, list):
                    stack.extend(node)
            cached = frozenset(n.split(":", 1)[0] for n in names)
            self._contents[key] = cached
        return cached

    # Validators -------------------------------------------------------------

    def validator(self, url: str) -> Validator:
        """A compiled validator for the schema at ``url`` (built once, then cached).

        Raises :class:`SchemaNotFound` for the URL itself; a missing *referenced*
        schema surfaces when validating (see :func:`iter_schema_errors`).
        """
        key = normalize_url(url)
        cached = self._validators.get(key)
        if cached is not None:
            return cached
        schema = self.get(key)
        if not isinstance(schema, dict | bool):
            raise SchemaNotFound(f"{url} is not a JSON Schema (an object)", hint="check the URL")
        with self._lock:
            registry = self._preloaded(key, schema)
            cls = validators.validator_for(schema, default=validators.Draft7Validator)
            validator = cls({"$ref": key}, registry=registry, format_checker=cls.FORMAT_CHECKER)
            self._validators[key] = validator
        return validator

    def validator_for_schema(self, schema: Mapping[str, Any], name: str) -> Validator:
        """A cached validator for an in-memory schema (a catalog profile), keyed by content.

        ``name`` is used as the base URI when the schema has no ``$id``, so
        that relative refs cannot escape to the network.
        """
        text = json.dumps(schema, sort_keys=True)
        key = "inline:" + hashlib.sha256(text.encode()).hexdigest()
        cached = self._validators.get(key)
        if cached is not None:
            return cached
        cls = validators.validator_for(schema, default=validators.Draft202012Validator)
        cls.check_schema(schema)
        base = normalize_url(str(schema.get("$id") or f"urn:catalog-bot:profile:{name}"))
        registry = self._preloaded(base, schema)
        validator = cls({"$ref": base}, registry=registry, format_checker=cls.FORMAT_CHECKER)
        self._validators[key] = validator
        return validator

    def _preloaded(self, key: str, schema: Any) -> Registry:
        """A registry holding ``schema`` and every schema it references, transitively.

        Why: ``jsonschema`` does not keep what a validation retrieved, so
        without this every validation would re-retrieve ~25 STAC files.
        Each document is registered under its *retrieval* URL (STAC 1.1.0
        ``common.json`` declares the typo ``$id`` ``.../commonjson`` while its
        siblings ``$ref`` ``common.json``).  A reference that cannot be found
        is left out: it raises when a validation reaches it.
        """
        resources: dict[str, Resource] = {}
        todo: list[tuple[str, Any]] = [(key, schema)]
        while todo:
            url, contents = todo.pop()
            if url in resources:
                continue
            resources[url] = Resource.from_contents(contents, default_specification=DRAFT7)
            for ref in _external_refs(contents):
                target = normalize_url(urljoin(url, ref))
                if not target or target in resources:
                    continue
                meta = self._metaschema(target)
                if meta is not None:
                    resources[target] = meta
                    continue
                try:
                    todo.append((target, self.get(target)))
                except SchemaNotFound:
                    continue
        return self.registry.with_resources(resources.items()).crawl()

    # Cache management -------------------------------------------------------

    def add(self, url: str, file: Path) -> Path:
        """Copy ``file`` into the local cache as the schema for ``url`` (atomic).

        The file must parse as JSON (or YAML for ``.yml``); it is never fetched.
        """
        if self.cache_dir is None:
            raise SchemaNotFound("no schema cache folder configured", hint="set CATALOG_BOT_CACHE")
        text = file.read_text(encoding="utf-8")
        try:
            _load_text(file, text)
        except ValueError as exc:
            raise SchemaNotFound(f"{file} is not valid JSON: {exc}", hint="pass the schema file itself") from None
        dest = self.cache_path(url)
        assert dest is not None
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        os.close(fd)
        shutil.copyfile(file, tmp)
        os.replace(tmp, dest)
        self._contents.pop(normalize_url(url), None)
        self._validators.pop(normalize_url(url), None)
        return dest
