"""Map a JSON pointer back to a line in the source text.

Why not ``json.loads``: it keeps no positions, and a problem reported as
``/extent/spatial/bbox/0`` is useless to a curator who has to find it in a
300-line file.  This is a small scanner that walks only along the pointer's
path and *skips* every sibling value (strings with escapes, nested objects and
arrays), so it stays linear in the file size and never builds a tree.

For ``collection.jsonnet`` we cannot parse Jsonnet here; :func:`jsonnet_line`
does a best-effort search for the key names of the pointer, in order.
"""

from __future__ import annotations

import re

_WS = " \t\r\n"


class _Scan:
    """Cursor over a JSON text; every method leaves ``pos`` after what it read."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def ws(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos] in _WS:
            self.pos += 1

    def peek(self) -> str:
        self.ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def string(self) -> str:
        """Read a JSON string starting at ``pos`` (the opening quote) and return it decoded."""
        start = self.pos
        text = self.text
        i = start + 1
        n = len(text)
        escaped = False
        while i < n:
            ch = text[i]
            if ch == "\\":
                escaped = True
                i += 2
                continue
            if ch == '"':
                break
            i += 1
        if i >= n:
            raise ValueError("unterminated string")
        self.pos = i + 1
        raw = text[start + 1 : i]
        if not escaped:
            return raw
        import json

        try:
            return json.loads(text[start : i + 1])
        except ValueError:
            return raw

    def skip(self) -> None:
        """Skip one JSON value of any kind (tracking nesting, ignoring brackets in strings)."""
        ch = self.peek()
        if ch == '"':
            self.string()
            return
        if ch in "[{":
            depth = 0
            text, n = self.text, len(self.text)
            while self.pos < n:
                c = text[self.pos]
                if c == '"':
                    self.string()
                    continue
                if c in "[{":
                    depth += 1
                elif c in "]}":
                    depth -= 1
                    if depth == 0:
                        self.pos += 1
                        return
                self.pos += 1
            raise ValueError("unterminated container")
        # number, true, false, null
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos] not in ",]}" + _WS:
            self.pos += 1

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise ValueError(f"expected {ch!r} at offset {self.pos}")
        self.pos += 1


def unescape_pointer(pointer: str) -> list[str]:
    """RFC 6901 pointer -> list of reference tokens (``~1`` is ``/``, ``~0`` is ``~``)."""
    if not pointer or pointer == "/":
        return [] if not pointer else [""]
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]


def make_pointer(parts: list[str | int] | tuple[str | int, ...]) -> str:
    """List of keys/indexes -> RFC 6901 pointer (``""`` for the root)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def locate(text: str, pointer: str) -> tuple[int, int] | None:
    """``(line, column)`` (1-based) of the member named by ``pointer`` in JSON ``text``.

    For an object member it is the position of its key; for an array element
    the position of the element.  When the pointer goes deeper than the
    document (e.g. a *missing* required property under ``/spatial``), the
    deepest existing ancestor is returned, which is where the fix goes.
    Returns ``None`` only when the text is not scannable JSON.
    """
    scan = _Scan(text)
    try:
        scan.ws()
        if scan.pos >= len(text):
            return None
        best = scan.pos
        for token in unescape_pointer(pointer):
            ch = scan.peek()
            if ch == "{":
                scan.pos += 1
                found = False
                while True:
                    ch = scan.peek()
                    if ch == "}":
                        break
                    if ch != '"':
                        return _line_col(text, best)
                    key_pos = scan.pos
                    key = scan.string()
                    scan.expect(":")
                    scan.ws()
                    if key == token:
                        best = key_pos
                        found = True
                        break
                    scan.skip()
                    if scan.peek() == ",":
                        scan.pos += 1
                if not found:
                    return _line_col(text, best)
            elif ch == "[":
                if not token.isdigit():
                    return _line_col(text, best)
                index = int(token)
                scan.pos += 1
                i = 0
                found = False
                while True:
                    ch = scan.peek()
                    if ch == "]" or not ch:
                        break
                    if i == index:
                        best = scan.pos
                        found = True
                        break
                    scan.skip()
                    if scan.peek() == ",":
                        scan.pos += 1
                    i += 1
                if not found:
                    return _line_col(text, best)
            else:
                return _line_col(text, best)
        return _line_col(text, best)
    except (ValueError, IndexError):
        return None


def json_line(text: str | None, pointer: str | None) -> int | None:
    """The 1-based line of ``pointer`` in ``text``, or ``None`` when unknown."""
    if text is None or pointer is None:
        return None
    found = locate(text, pointer)
    return found[0] if found else None


def jsonnet_line(source: str | None, pointer: str | None) -> int | None:
    """Best-effort line of a rendered field in its ``collection.jsonnet`` source.

    We look for each object key of the pointer in turn (``id:``, ``'license':``,
    ``"extent"::``, or a named argument ``id=``...), each search starting at the line where the previous
    key was found, and return the last line found.  Array indexes are
    skipped.  ``None`` if not even the first key appears (e.g. the field comes
    from a library function): the caller then reports the file without a line.
    """
    if source is None or not pointer:
        return None
    lines = source.splitlines()
    start = 0
    found: int | None = None
    for token in unescape_pointer(pointer):
        if token.isdigit() or not token:
            continue
        key = re.escape(token)
        # `key:`, `key::`, `key+:`, `'key':` in objects; `key=` for named arguments.
        pattern = re.compile(rf"""(^|[\s{{,(])(['"]?){key}\2\s*(\+?:{{1,3}}|=(?!=))""")
        for index in range(start, len(lines)):
            if pattern.search(lines[index]):
                found = index + 1
                start = index
                break
        else:
            break
    return found
