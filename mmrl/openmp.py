"""How idle OpenMP threads wait on a CPU, chosen once per process before torch loads.

torch's OpenMP runtime reads ``OMP_WAIT_POLICY`` when it loads, so this module imports neither
torch nor anything that does. Two policies, each the fast one in its own situation (measured on a
2-core AMX CPU: the 91 bf16 matrix products of one SmolLM2-135M decode step at 16 sequences, 30
layers of distinct weights):

* **spin, then sleep** (the OpenMP runtime's default): a waiting thread spins for a while before it
  sleeps, so the next of a decode step's hundreds of small parallel regions starts at once.
  12.5 ms per step on idle cores; 60 ms when another process keeps one core busy, because the
  spinning thread takes the time slices the other thread's work needs.
* **sleep** (``OMP_WAIT_POLICY=PASSIVE``): 26.5 ms per step on idle cores (every region wakes its
  threads again), 24 ms next to the busy process.

``apply_wait_policy`` looks at what the CPUs this process may use did over a short window before
it starts (``other_cpu_load``): idle, it leaves the runtime's default; busy with other work, it sets
``PASSIVE``. An explicit ``OMP_WAIT_POLICY`` (or ``GOMP_SPINCOUNT``) in the environment always wins.
``mmrl train``, ``mmrl demo``, ``mmrl eval`` and the benchmark scripts call it first thing; the
trainer logs the decision (``decision``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping

__all__ = ["BUSY_CORES", "apply_wait_policy", "choose_wait_policy", "decision", "other_cpu_load"]

#: Cores' worth of other processes' work at or above which idle threads sleep instead of spin.
BUSY_CORES = 0.3

#: The environment variables with which a user has already chosen how OpenMP threads wait.
USER_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")

_decision: str | None = None


def _cpu_times(cpus: set[int], stat: str) -> tuple[float, float]:
    """``(busy, total)`` jiffies summed over the ``cpuN`` lines of ``/proc/stat`` text for ``cpus``.

    Busy is every field but ``idle`` and ``iowait`` (user, nice, system, irq, softirq, steal); the
    guest fields are already inside user and nice, so they are not counted again."""
    busy = total = 0.0
    for line in stat.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        fields = [float(x) for x in rest.split()[:8]]
        fields += [0.0] * (8 - len(fields))
        user, nice, system, idle, iowait, irq, softirq, steal = fields
        busy += user + nice + system + irq + softirq + steal
        total += user + nice + system + idle + iowait + irq + softirq + steal
    return busy, total


def busy_cores(before: str, after: str, cpus: set[int]) -> float:
    """Cores' worth of work done on ``cpus`` between two ``/proc/stat`` readings:
    ``len(cpus) * Δbusy / Δtotal`` (0 when no time passed)."""
    b0, t0 = _cpu_times(cpus, before)
    b1, t1 = _cpu_times(cpus, after)
    if t1 <= t0:
        return 0.0
    return len(cpus) * max(0.0, b1 - b0) / (t1 - t0)


def other_cpu_load(window_s: float = 0.25) -> float | None:
    """Cores' worth of other processes' work on the CPUs this process may run on, over ``window_s``
    seconds while this process sleeps; ``None`` where ``/proc/stat`` or the affinity mask is not
    available (not Linux)."""
    try:
        cpus = set(os.sched_getaffinity(0))
        with open("/proc/stat") as f:
            before = f.read()
        time.sleep(window_s)
        with open("/proc/stat") as f:
            after = f.read()
    except (AttributeError, OSError):
        return None
    return busy_cores(before, after, cpus)


def choose_wait_policy(environ: Mapping[str, str], load: float | None) -> tuple[str | None, str]:
    """``(OMP_WAIT_POLICY to set or None, why)`` for ``load`` cores of other work (``None``: unknown).

    A setting already in ``environ`` is kept; unknown load sleeps (the policy that is never much
    slower); load at or above ``BUSY_CORES`` sleeps; otherwise the runtime's spin-then-sleep default."""
    given = [f"{k}={environ[k]}" for k in USER_SETTINGS if k in environ]
    if given:
        return None, f"as set in the environment ({', '.join(given)})"
    if load is None:
        return "PASSIVE", "idle threads sleep (OMP_WAIT_POLICY=PASSIVE): this system does not report CPU load"
    if load >= BUSY_CORES:
        return "PASSIVE", (
            f"idle threads sleep (OMP_WAIT_POLICY=PASSIVE): other processes kept {load:.1f} cores busy at start, "
            "and spinning threads would take their time"
        )
    return None, (
        f"idle threads spin, then sleep (the OpenMP default): the cores were idle at start ({load:.2f} busy); "
        "set OMP_WAIT_POLICY=PASSIVE if other jobs will share them"
    )


def apply_wait_policy() -> str:
    """Choose and set the wait policy for this process (once; before torch loads), return why.

    Once torch is imported the runtime has read its setting, so nothing is changed then."""
    global _decision
    if _decision is not None:
        return _decision
    if "torch" in sys.modules:
        _decision = "unchanged: torch was imported before the OpenMP wait policy was chosen"
        return _decision
    chosen = any(k in os.environ for k in USER_SETTINGS)
    policy, why = choose_wait_policy(os.environ, None if chosen else other_cpu_load())
    if policy is not None:
        os.environ["OMP_WAIT_POLICY"] = policy
    _decision = why
    return why


def decision() -> str | None:
    """Why this process's wait policy is what it is; ``None`` when ``apply_wait_policy`` never ran."""
    return _decision
