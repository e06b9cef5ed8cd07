"""The OpenMP wait policy: CPU load from /proc/stat, the choice, and when it is applied."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from mmrl.openmp import BUSY_CORES, busy_cores, choose_wait_policy, other_cpu_load

HEAD = "cpu  100 0 100 800 0 0 0 0 0 0\n"


def stat(*cpus: tuple[int, int, int, int]) -> str:
    """/proc/stat text with one ``cpuN user nice system idle ...`` line per ``(user, system, idle, steal)``."""
    lines = [HEAD] + [f"cpu{i} {u} 0 {s} {idle} 0 0 0 {st} 0 0\n" for i, (u, s, idle, st) in enumerate(cpus)]
    return "".join(lines) + "intr 12345\nctxt 99\n"


def test_busy_cores_counts_only_the_allowed_cpus_and_every_busy_field():
    before = stat((0, 0, 0, 0), (0, 0, 0, 0), (0, 0, 0, 0))
    # cpu0: 50 user + 25 system + 25 idle -> 0.75 busy; cpu1 all idle; cpu2 fully busy but not ours.
    after = stat((50, 25, 25, 0), (0, 0, 100, 0), (100, 0, 0, 0))
    assert busy_cores(before, after, {0, 1}) == pytest.approx(2 * 75 / 200)
    assert busy_cores(before, after, {0}) == pytest.approx(0.75)
    assert busy_cores(before, after, {2}) == pytest.approx(1.0)
    # steal is time the core was busy with someone else's work
    assert busy_cores(before, stat((0, 0, 60, 40)), {0}) == pytest.approx(0.4)


def test_busy_cores_is_zero_when_no_time_passed():
    same = stat((10, 10, 10, 0))
    assert busy_cores(same, same, {0}) == 0.0


def test_choice_spins_on_idle_cores_and_sleeps_on_busy_or_unknown_ones():
    policy, why = choose_wait_policy({}, 0.0)
    assert policy is None and "spin" in why and "OMP_WAIT_POLICY=PASSIVE" in why
    assert choose_wait_policy({}, BUSY_CORES - 0.01)[0] is None
    policy, why = choose_wait_policy({}, BUSY_CORES)
    assert policy == "PASSIVE" and "busy" in why
    assert choose_wait_policy({}, None)[0] == "PASSIVE"


@pytest.mark.parametrize("given", [{"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "1000"}])
def test_a_setting_in_the_environment_wins(given):
    for load in (0.0, 5.0, None):
        policy, why = choose_wait_policy(given, load)
        assert policy is None
        assert next(iter(given)) in why


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat")
def test_other_cpu_load_sees_a_busy_process():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        load = other_cpu_load(0.5)
    finally:
        busy.kill()
        busy.wait()
    assert load is not None and load >= 0.5


def _fresh_interpreter(code: str, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


APPLY = (
    "import json, os, sys\n"
    "from mmrl.openmp import apply_wait_policy, decision\n"
    "{before}\n"
    "why = apply_wait_policy()\n"
    "assert decision() == why and apply_wait_policy() == why\n"
    "print(json.dumps({{'why': why, 'policy': os.environ.get('OMP_WAIT_POLICY')}}))\n"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat")
def test_apply_sets_passive_next_to_a_busy_process_and_keeps_a_users_setting():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.3)
        result = _fresh_interpreter(APPLY.format(before=""), env)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert result["policy"] == "PASSIVE", result
    result = _fresh_interpreter(APPLY.format(before=""), {**env, "OMP_WAIT_POLICY": "ACTIVE"})
    assert result["policy"] == "ACTIVE" and "as set in the environment" in result["why"]


def test_apply_changes_nothing_once_torch_is_loaded():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    result = _fresh_interpreter(APPLY.format(before="import torch"), env)
    assert result["policy"] is None and "torch was imported" in result["why"]
