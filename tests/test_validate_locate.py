"""JSON pointer -> line mapping (JSON scan) and the best-effort Jsonnet key search."""

from __future__ import annotations

import json

from bot.catalog.locate import json_line, jsonnet_line, locate, make_pointer, unescape_pointer

DOC = """{
  "name": "x",
  "tricky": "a string with { [ brackets ] } and \\"quotes\\" and a / slash",
  "nested": {
    "list": [
      {"a": 1},
      {
        "a": 2,
        "deep": [10, 20, [30, 40]]
      }
    ],
    "a/b": true,
    "t~x": null
  },
  "spatial": {
    "bbox": [
      145.0,
      -24.0,
      153.0,
      -13.5
    ]
  }
}
"""


def _line_of_text(needle: str, nth: int = 0) -> int:
    """1-based line of the nth occurrence of needle (computed from the text, not hard-coded)."""
    lines = [i + 1 for i, line in enumerate(DOC.splitlines()) if needle in line]
    return lines[nth]


def _members(node: object, pointer: str = "") -> list[tuple[str, str]]:
    """``(pointer, key)`` of every object member in a parsed document."""
    out: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}"
            out += [(child, key), *_members(value, child)]
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _members(value, f"{pointer}/{index}")
    return out


def test_every_member_is_located_at_the_line_of_its_key() -> None:
    """Walks the parsed document (the independent truth) and checks each member's line."""
    members = _members(json.loads(DOC))
    assert len(members) == 11  # name, tricky, nested, list, a, a, deep, a/b, t~x, spatial, bbox
    lines = DOC.splitlines()
    for pointer, key in members:
        line = json_line(DOC, pointer)
        assert line is not None and json.dumps(key) in lines[line - 1], (pointer, line)


def test_top_level_keys() -> None:
    assert json_line(DOC, "/name") == _line_of_text('"name"')
    assert json_line(DOC, "/spatial") == _line_of_text('"spatial"')


def test_brackets_and_quotes_inside_strings_do_not_confuse_the_scan() -> None:
    assert json_line(DOC, "/nested") == _line_of_text('"nested"')


def test_arrays_of_objects_and_nested_arrays() -> None:
    assert json_line(DOC, "/nested/list/1/a") == _line_of_text('"a": 2')
    assert json_line(DOC, "/nested/list/0/a") == _line_of_text('"a": 1')
    assert json_line(DOC, "/nested/list/1/deep") == _line_of_text('"deep"')
    assert locate(DOC, "/nested/list/1/deep/2/1") is not None
    line, col = locate(DOC, "/nested/list/1/deep/2/1")  # type: ignore[misc]
    assert DOC.splitlines()[line - 1][col - 1 : col + 1] == "40"


def test_array_elements_on_their_own_lines() -> None:
    assert json_line(DOC, "/spatial/bbox/3") == _line_of_text("-13.5")
    assert json_line(DOC, "/spatial/bbox/0") == _line_of_text("145.0")


def test_escaped_pointer_tokens() -> None:
    assert unescape_pointer("/nested/a~1b") == ["nested", "a/b"]
    assert make_pointer(["nested", "a/b", "t~x", 0]) == "/nested/a~1b/t~0x/0"
    assert json_line(DOC, "/nested/a~1b") == _line_of_text('"a/b"')
    assert json_line(DOC, "/nested/t~0x") == _line_of_text('"t~x"')


def test_missing_member_falls_back_to_the_deepest_existing_ancestor() -> None:
    assert json_line(DOC, "/spatial/crs") == _line_of_text('"spatial"')
    assert json_line(DOC, "/spatial/bbox/9") == _line_of_text('"bbox"')
    assert json_line(DOC, "/nope") == 1


def test_root_and_invalid_text() -> None:
    assert json_line(DOC, "") == 1
    assert json_line('{"x": "unterminated', "/a") is None
    assert json_line(None, "/a") is None


def test_minified_json_gives_line_one_and_columns() -> None:
    text = json.dumps({"a": {"b": [1, {"c": 2}]}})
    line, col = locate(text, "/a/b/1/c")  # type: ignore[misc]
    assert line == 1 and text[col - 1 : col + 2] == '"c"'


JSONNET = """local lib = import 'catalog.libsonnet';

lib.collection(
  id='reef-temperature',
  title='Reef',
  license='CC-BY-4.0',
  extent=lib.extent([145.46, -23.44, 151.92, -13.89], ['2024-01-01T00:00:00Z', null]),
  extra={
    'sci:citation': 'x',
  },
) + {
  "links"+: [{ rel: 'about', href: '' }],
}
"""


def _jsonnet_line(needle: str) -> int:
    return next(i + 1 for i, line in enumerate(JSONNET.splitlines()) if needle in line)


def test_jsonnet_top_level_keys_in_function_args_and_objects() -> None:
    assert jsonnet_line(JSONNET, "/id") == _jsonnet_line("id='reef")
    assert jsonnet_line(JSONNET, "/license") == _jsonnet_line("license=")
    assert jsonnet_line(JSONNET, "/extent/spatial/bbox/0/2") == _jsonnet_line("extent=")
    assert jsonnet_line(JSONNET, "/sci:citation") == _jsonnet_line("'sci:citation'")
    assert jsonnet_line(JSONNET, "/links/0/href") == _jsonnet_line("href: ''")


def test_jsonnet_unknown_key_is_none() -> None:
    assert jsonnet_line(JSONNET, "/stac_version") is None
    assert jsonnet_line(None, "/id") is None
