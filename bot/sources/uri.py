"""Source URIs: which schemes are accepted and how a ``source.path`` is classified.

Why strict: ``source.path`` comes from a pull request.  Only three remote
schemes make sense for data (``http``, ``https``, ``s3``); anything else
(``file://``, ``ftp://``, ``gopher://``...) could read the bot's own machine
or speak another protocol, so it is refused when ``pipeline.yaml`` is
validated, with the fix in the message.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

import msgspec

REMOTE_SCHEMES = ("http", "https", "s3")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

Kind = Literal["local", "http", "s3"]


class SourceURI(msgspec.Struct, frozen=True):  # a struct: cheaper to create at import than a dataclass
    """A classified ``source.path``: a catalog file, an HTTP(S) URL or an S3 object."""

    text: str
    kind: Kind
    host: str | None = None
    port: int | None = None
    bucket: str | None = None
    key: str | None = None

    @property
    def remote(self) -> bool:
        """True for ``http``/``https``/``s3`` sources."""
        return self.kind != "local"

    @property
    def name(self) -> str:
        """The last path segment (the remote file name), used to name the local copy."""
        path = self.key if self.kind == "s3" else urlsplit(self.text).path if self.remote else self.text
        return (path or "").rstrip("/").rsplit("/", 1)[-1] or "source"


def parse_source(text: str) -> SourceURI:
    """Classify ``text``; raises ``ValueError`` (message + fix) for a refused scheme or a malformed URI."""
    text = text.strip()
    if not text:
        raise ValueError("source path is empty; give a file relative to the dataset folder or an https:// / s3:// URI")
    if text.startswith("//"):
        raise ValueError(f"{text!r} has no scheme; write https://{text[2:]}")
    if "://" not in text and (".." in text.replace("\\", "/").split("/") or text.startswith(("/", "\\", "~"))):
        raise ValueError(f"{text!r} leaves the dataset folder; give a path relative to it (e.g. data/file.csv)")
    match = _SCHEME.match(text)
    if match is None or (len(match.group(1)) == 1 and text[1:3] in (":\\", ":/")):  # no scheme (or C:\)
        if text.startswith("//"):
            raise ValueError(f"{text!r} has no scheme; write https://{text[2:]}")
        return SourceURI(text, "local")
    scheme = match.group(1).lower()
    if scheme not in REMOTE_SCHEMES:
        raise ValueError(
            f"scheme {scheme!r} of {text!r} is not allowed; use a file in the dataset folder, "
            "or an http://, https:// or s3://bucket/key URI"
        )
    parts = urlsplit(text)
    if scheme == "s3":
        bucket, key = parts.netloc, parts.path.lstrip("/")
        if not _BUCKET.fullmatch(bucket or "") or not key:
            raise ValueError(f"{text!r} is not an S3 object URI; write s3://bucket/path/to/file")
        return SourceURI(text, "s3", bucket=bucket, key=key)
    if parts.username or parts.password:
        raise ValueError(
            f"{parts.scheme}:// URI has credentials in it; never put secrets in pipeline.yaml "
            "(publish the file, or use an s3:// source with credentials from the environment)"
        )
    host = parts.hostname
    if not host:
        raise ValueError(f"{text!r} has no host; write {scheme}://host/path/file")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port") from None
    if not parts.path or parts.path.endswith("/"):
        raise ValueError(f"{text!r} names a folder, not a file; point at one file")
    if is_glob(parts.path):
        raise ValueError(
            f"{text!r}: HTTP has no directory listing, so it cannot be a pattern; list the files under paths:"
        )
    return SourceURI(text, "http", host=host.lower(), port=port or (443 if scheme == "https" else 80))


_GLOB = re.compile(r"[*?\[]")


def is_glob(text: str) -> bool:
    """True when ``text`` is a pattern (``*``, ``?``, ``[...]``) rather than one file."""
    return bool(_GLOB.search(text))


def glob_prefix(text: str) -> str:
    """The fixed part of a pattern before its first wildcard (what an S3 listing can filter on)."""
    match = _GLOB.search(text)
    return text[: match.start()] if match else text


def check_source_path(text: str) -> str:
    """The check of ``source.path`` in ``pipeline.yaml``: the text unchanged, or ``ValueError``."""
    parse_source(text)
    return text
