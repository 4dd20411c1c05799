"""What the kernel says about CPU time, memory and the machine's other load (Linux /proc)."""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def machine_jiffies(cpu: int | None = None) -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs, or of one CPU, from /proc/stat."""
    name = "cpu" if cpu is None else f"cpu{cpu}"
    for line in Path("/proc/stat").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == name:
            fields = [int(x) for x in parts[1:]]
            break
    else:
        return 0, 0
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return total - idle, total


def process_tree(pid: int) -> list[int]:
    """The pid and all its descendants (gunicorn's workers, for instance)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                children = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                todo.extend(int(c) for c in children)
        except OSError:
            continue
    return pids


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process tree."""
    ticks = 0
    for p in process_tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLK_TCK


def tree_rss_kb(pid: int) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            continue
    return total


def own_and_children_cpu() -> float:
    """CPU seconds of this process plus its reaped children (wrk runs as one)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def other_load(server_pid: int | None, seconds: float = 1.0) -> float:
    """Cores kept busy by everything except the server and this harness, over `seconds`."""
    busy0, total0 = machine_jiffies()
    srv0 = tree_cpu_seconds(server_pid) if server_pid else 0.0
    own0 = own_and_children_cpu()
    time.sleep(seconds)
    busy1, total1 = machine_jiffies()
    srv1 = tree_cpu_seconds(server_pid) if server_pid else 0.0
    own1 = own_and_children_cpu()
    ncpu = os.cpu_count() or 1
    elapsed = (total1 - total0) / CLK_TCK / ncpu
    if elapsed <= 0:
        return 0.0
    busy = (busy1 - busy0) / CLK_TCK - (srv1 - srv0) - (own1 - own0)
    return max(0.0, busy / elapsed)


@dataclass
class LoadMeter:
    """Busy time of the machine and of one core over an interval."""

    cpu: int | None = None
    busy0: int = 0
    total0: int = 0
    core_busy0: int = 0

    def start(self) -> None:
        self.busy0, self.total0 = machine_jiffies()
        if self.cpu is not None:
            self.core_busy0 = machine_jiffies(self.cpu)[0]

    def stop(self) -> tuple[float, float, float]:
        """(busy CPU seconds of the machine, of the core, wall seconds) since start."""
        busy1, total1 = machine_jiffies()
        core = (machine_jiffies(self.cpu)[0] - self.core_busy0) if self.cpu is not None else 0
        ncpu = os.cpu_count() or 1
        wall = (total1 - self.total0) / CLK_TCK / ncpu
        return (busy1 - self.busy0) / CLK_TCK, core / CLK_TCK, wall


class RssSampler(threading.Thread):
    """Samples a process tree's resident memory every `interval` s; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid))
            self._halt.wait(self.interval)

    def finish(self) -> int:
        self._halt.set()
        self.join()
        self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid))
        return self.peak_kb
