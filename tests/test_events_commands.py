"""``/catalog`` command parsing: what is accepted, and what is refused with a reason."""

from __future__ import annotations

import pytest

from bot.errors import CommandError
from bot.events.commands import SPECS, help_text, is_command, parse_command


@pytest.mark.parametrize(
    ("body", "name", "datasets", "options"),
    [
        ("/catalog help", "help", (), {}),
        ("/catalog", "help", (), {}),
        ("/catalog check\nplease re-run", "check", (), {}),
        ("  /catalog diff reef-temperature  ", "diff", ("reef-temperature",), {}),
        (
            "/catalog publish reef-temperature sea-surface-temperature env=prod",
            "publish",
            ("reef-temperature", "sea-surface-temperature"),
            {"env": "prod"},
        ),
        ("/catalog publish a1 a1", "publish", ("a1",), {}),
        ("/catalog PREVIEW reef-temperature", "preview", ("reef-temperature",), {}),
        ("/catalog status reef-temperature", "status", ("reef-temperature",), {}),
        ("/catalog generate", "generate", (), {}),
    ],
)
def test_accepted(body: str, name: str, datasets: tuple[str, ...], options: dict[str, str]) -> None:
    cmd = parse_command(body)
    assert (cmd.name, cmd.datasets, cmd.options) == (name, datasets, options)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("/catalog publish reef-temperature; rm -rf /", "not allowed"),
        ("/catalog publish $(whoami)", "not allowed"),
        ("/catalog publish `id`", "not allowed"),
        ("/catalog publish a|b", "not allowed"),
        ("/catalog publish ../../etc", "not a valid dataset id"),
        ("/catalog diff datasets/reef", "not a valid dataset id"),
        ("/catalog publish Reef_Temperature", "not a valid dataset id"),
        ("/catalog publish reef-temperature force=true", "unknown option `force=`"),
        ("/catalog diff reef-temperature env=prod", "unknown option `env=`"),
        ("/catalog publish reef-temperature env=Prod!", "not allowed"),
        ("/catalog publish reef-temperature env=../x", "not a valid environment"),
        ("/catalog publish x1 env=a env=b", "given twice"),
        ("/catalog deploy reef-temperature", "unknown command `deploy`"),
        ("/catalog publish", "takes 1 to 20 dataset ids"),
        ("/catalog diff a1 b2", "takes exactly 1 dataset id"),
        ("/catalog help me", "takes no arguments"),
    ],
)
def test_refused_with_reason(body: str, reason: str) -> None:
    with pytest.raises(CommandError) as err:
        parse_command(body)
    assert reason in err.value.message


def test_only_the_first_line_counts() -> None:
    assert not is_command("thanks!\n/catalog publish reef-temperature")
    assert not is_command("/catalogue publish x")
    assert not is_command("see /catalog help")
    assert is_command("\n\n/catalog help")
    # arguments on later lines are not read
    assert parse_command("/catalog check\n/catalog publish x1").name == "check"


def test_help_lists_every_command_with_its_permission() -> None:
    text = help_text({"publish": "maintain", "check": "read"})
    for name in SPECS:
        assert f"/catalog {name}" in text
    assert "| maintain |" in text
