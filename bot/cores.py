"""How many cores this process may really use: its affinity mask and its cgroup's CPU quota.

Why not ``os.cpu_count()``: in an Argo pod it is the node's core count, while
the container may be pinned to fewer cores (affinity) or limited by a CPU
quota (the heavy steps' ``limits.cpu: 2`` on a 16-core node).  Thread and
process pools sized to the node would then only add contention and memory.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def _quota(root: Path) -> float | None:
    """CPUs granted by the cgroup CPU quota (v2 ``cpu.max``, else v1 CFS files); None: unlimited or unknown."""
    try:
        quota, _, period = (root / "cpu.max").read_text().partition(" ")
        if quota.strip() != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def usable_cores(root: Path = CGROUP) -> int:
    """The cores this process may run on, capped by its cgroup's CPU quota (rounded up), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _quota(root)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)
