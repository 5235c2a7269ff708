"""Neutralise text before the privileged side posts it (comments, check runs, job summaries).

Why: posted reports quote pull-request content (titles, keywords, error
messages, the command line), and a comment written by the bot's token is
trusted by readers and by GitHub.  So whatever is posted must not

* ping people or teams (``@org/team`` -> ``@<zero-width space>org/team``),
* load remote content (images ``![..](..)`` and ``<img>`` -> their alt text),
* hide text or forge the bot's own markers (HTML comments other than the
  marker the caller adds itself are removed),
* carry script links (``javascript:``, ``vbscript:``, ``data:`` targets).

:func:`neutralise` is idempotent and leaves ordinary Markdown (tables,
``<details>``, code) alone.
"""

from __future__ import annotations

import re

_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
# A link destination may hold balanced parentheses (CommonMark), e.g. ``javascript:alert(document.cookie)``:
# matching up to the first ``)`` would leave the rest of the target, and a stray ``)``, in the post.
_TARGET = r"(?:[^()\n]|\((?:[^()\n]|\([^()\n]*\))*\))*"
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(" + _TARGET + r"\)")
_IMAGE_REF = re.compile(r"!\[([^\]\n]*)\]\[[^\]\n]*\]")
_IMG_TAG = re.compile(r"<\s*(?:img|picture|source|video|audio|iframe|object|embed)\b[^>]*>", re.IGNORECASE)
_SCRIPT_LINK = re.compile(r"\]\(\s*<?\s*(?:javascript|vbscript|data)\s*:" + _TARGET + r"\)", re.IGNORECASE)
_SCRIPT_SCHEME = re.compile(r"\b(?:javascript|vbscript)\s*:", re.IGNORECASE)
_DATA_ATTR = re.compile(r"""(\b(?:href|src)\s*=\s*["']?\s*)data\s*:""", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w`/.@])@(?=[A-Za-z0-9])")


def neutralise(text: str) -> str:
    """``text`` with mentions broken, images, HTML comments and script links removed."""
    out = _COMMENT.sub("", text)
    out = _IMAGE.sub(lambda m: m.group(1), out)
    out = _IMAGE_REF.sub(lambda m: m.group(1), out)
    out = _IMG_TAG.sub("", out)
    out = _SCRIPT_LINK.sub("](#blocked-link)", out)
    out = _SCRIPT_SCHEME.sub("blocked:", out)
    out = _DATA_ATTR.sub(r"\1blocked:", out)
    return _MENTION.sub("@\u200b", out)


def with_marker(marker: str, text: str) -> str:
    """``text`` neutralised, then prefixed with the caller's own hidden marker."""
    body = neutralise(text).lstrip()
    return f"{marker}\n{body}" if marker else body
