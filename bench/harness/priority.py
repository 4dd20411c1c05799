"""Raise the benchmark's processes above other work on a shared machine.

With the kernel's autogroup scheduling (sched_autogroup_enabled=1), CPU time is shared
between sessions first, so a process's own nice value barely matters against other
sessions' work. Each server and each wrk run gets a session of its own, and that
session's autogroup gets nice -10 (BENCH_NICE changes the level, 0 turns it off).
Only the processes this harness started are touched.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def nice_level() -> int:
    level = int(os.environ.get("BENCH_NICE", "-10"))
    if level < 0 and os.geteuid() != 0:
        return 0
    return level


def describe() -> str:
    level = nice_level()
    return f"nice {level} (process and autogroup)" if level else ""


def boost(pid: int) -> None:
    """Give the process (the leader of its own session) and its autogroup the nice level."""
    level = nice_level()
    if not level:
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, level)
    autogroup = Path(f"/proc/{pid}/autogroup")
    with contextlib.suppress(OSError):
        autogroup.write_text(str(level))
