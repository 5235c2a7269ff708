"""Usable cores: the affinity mask capped by the cgroup CPU quota (bot/cores.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.cores import usable_cores

AFFINITY = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "max 100000\n"}, AFFINITY),  # v2, unlimited
        ({"cpu.max": "50000 100000\n"}, 1),  # v2, half a CPU: at least one
        ({"cpu.max": "150000 100000\n"}, min(AFFINITY, 2)),  # 1.5 CPUs: rounded up
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, AFFINITY),  # v1, unlimited
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # v1, one CPU
        ({"cpu.max": "garbage"}, AFFINITY),  # unreadable: the affinity mask alone
        ({}, AFFINITY),  # no cgroup files (not a container, or not Linux's layout)
    ],
)
def test_the_quota_caps_the_affinity_mask(tmp_path: Path, files: dict[str, str], expected: int) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert usable_cores(tmp_path) == expected


def test_this_machine() -> None:
    assert 1 <= usable_cores() <= AFFINITY
