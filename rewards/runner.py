"""``RewardRunner``: score a batch in worker processes, with a hard per-response timeout.

What the trainer and the evaluator call::

    with RewardRunner(cfg.reward) as runner:
        result = runner.score(responses, examples, truncated)   # RunnerResult
        rewards = [s.reward for s in result.scores]              # input order; None = masked
        log(result.counters)                                     # per status, timeouts, errors ...

Guarantees:

* **Hard timeout per response.** Each response gets at most ``timeout_s`` of one worker's time,
  measured by the parent from the moment the worker starts on it. A worker past its deadline is
  killed (``SIGKILL``), its response scored ``timeout``, its queued responses handed to the other
  workers, and a fresh worker started in the background. No ``signal.alarm``: the runner works
  from any thread, and scores equal those of ``rewards.score`` in the main thread.
* **Cost of a hang.** ``k`` hanging responses cost about ``ceil(k / num_workers) * timeout_s`` of
  wall time; and as soon as the failures of a batch pass ``max_error_rate`` the batch stops and
  raises, so a verifier that hangs on everything fails within about one timeout.
* **Nothing is fatal, nothing is silent.** A verifier that raises (any ``BaseException``, e.g.
  ``SystemExit`` or Math-Verify's ``TimeoutException``) or kills its worker gives status
  ``error``; each timeout or error logs one WARNING with the example id and is counted.
* **Failure policy** (``cfg.on_failure``): ``mask`` keeps ``reward=None`` (the trainer leaves the
  sample out of the group baseline); ``zero`` scores it 0.0 as a wrong answer (the status stays
  ``timeout``/``error`` and the message says it was zeroed; an unparsable gold stays ``None``); ``raise`` raises ``RewardError`` at the first failure. With any
  policy, a batch whose ``(timeouts + errors) / len(batch)`` exceeds ``max_error_rate`` raises
  ``RewardError`` with the first failure's traceback.
* **No process left behind.** ``close()`` (or leaving the ``with`` block, or garbage collection,
  or interpreter exit) stops every worker; a worker whose parent died exits within a second.

Workers are fresh interpreters (``python -c``, fork+exec: safe next to CUDA and threads, and unlike
``multiprocessing``'s spawn they never re-run the caller's script, so no ``__main__`` guard is
needed) talking over a socket pair, with the parent's ``sys.path``. Built-in verifiers are sent by
name, ``module:fn`` and ``file.py:fn`` specs and entry points by name (each worker loads them),
other registered functions by pickle (they must be importable module-level functions). Examples
are sent without their images (verifiers score text). With ``num_workers=0`` the built-in
verifiers score in this process (they bound their own work, see ``rewards.expr.Budget``) and any
other verifier, and the built-in ``mathruler`` (sympy has no time bound), still goes to one worker
process, so the timeout guarantee holds either way (``rewards.scoring.bounds_its_time``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from mmrl.config import RewardConfig
from mmrl.errors import UserError
from mmrl.types import SCORE_STATUSES, Example, Score
from rewards.registry import Verifier, _entry_points, get_verifier, is_builtin
from rewards.scoring import bounds_its_time, score_detailed

__all__ = ["COUNTER_KEYS", "RewardError", "RewardRunner", "RunnerResult"]

log = logging.getLogger("rewards.runner")

#: Keys of ``RunnerResult.counters``: every status, ``total``, ``correct`` (responses whose
#: ``Score.correct`` is True) and ``workers_restarted`` (workers killed or lost in this batch).
COUNTER_KEYS: tuple[str, ...] = ("total", *SCORE_STATUSES, "correct", "workers_restarted")

_START_TIMEOUT_S = 120.0  # spawn + imports, on a loaded machine
_MAX_CHUNK = 16
_SMALL_MESSAGE = 16 * 1024  # below a pipe's buffer: sending it never blocks
_MAX_WARNINGS = 5
_MAX_BOOT_FAILURES = 3
_LOAD_TIMEOUT_S = 60.0  # importing a custom verifier's module in a worker


class RewardError(RuntimeError):
    """Too many responses of a batch timed out or failed (or one did, with ``on_failure=raise``)."""


@dataclass
class RunnerResult:
    """Scores in input order and what happened while computing them."""

    scores: list[Score]
    counters: dict[str, int] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Worker process
# ----------------------------------------------------------------------------------------------


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(1)


def _resolve(ref: tuple[str, Any]) -> Verifier:
    kind, value = ref
    if kind == "pickle":
        return pickle.loads(value)
    return get_verifier(value)


def _worker_main() -> None:
    """Loop of one scoring process: receive chunks, send one result per response.

    Started by ``_Worker`` as ``python -c _BOOT`` with the parent's ``sys.path``, the socket's file
    descriptor and the parent's pid in the environment; the caller's own script is never re-run.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    parent_pid = int(os.environ["MMRL_REWARD_WORKER_PARENT"])
    conn = Connection(int(os.environ["MMRL_REWARD_WORKER_FD"]))
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    import rewards  # noqa: F401  (registers the built-in verifiers)

    verifiers: dict[int, Verifier | BaseException] = {}
    conn.send_bytes(pickle.dumps(("ready", os.getpid())))
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        if message is None:
            return
        _, batch_id, refs, items, options = message
        if refs:
            for vid, ref in refs.items():
                try:
                    verifiers[vid] = _resolve(ref)
                except BaseException as exc:
                    verifiers[vid] = exc
            # Importing a verifier's module is not scoring: the timeout clock starts after this.
            conn.send_bytes(pickle.dumps(("loaded", batch_id)))
        for index, vid, response, example, truncated in items:
            fn = verifiers[vid]
            if isinstance(fn, BaseException):
                result = Score(None, None, "error", {}, None, f"the worker cannot load the verifier: {fn!r}")
                trace = f"loading the verifier failed in the worker: {fn!r}"
            else:
                try:
                    result, trace = score_detailed(fn, response, example, truncated=truncated, **options)
                except BaseException as exc:  # even KeyboardInterrupt: this process must keep going
                    result = Score(None, None, "error", {}, None, f"{type(exc).__name__}: {exc}"[:500])
                    trace = f"{type(exc).__name__}: {exc}"
            conn.send_bytes(pickle.dumps(("result", batch_id, index, result, trace)))


_BOOT = (
    "import json, os, sys; sys.path[:] = json.loads(os.environ['MMRL_REWARD_WORKER_PATH']); "
    "from rewards.runner import _worker_main; _worker_main()"
)


class _Worker:
    def __init__(self) -> None:
        parent_sock, child_sock = socket.socketpair()
        env = dict(os.environ)
        env["MMRL_REWARD_WORKER_PATH"] = json.dumps([p if p else os.getcwd() for p in sys.path])
        env["MMRL_REWARD_WORKER_FD"] = str(child_sock.fileno())
        env["MMRL_REWARD_WORKER_PARENT"] = str(os.getpid())
        try:
            out = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            out = subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BOOT],
            env=env,
            pass_fds=(child_sock.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=out,  # a verifier's prints must not mix with the caller's stdout (JSONL output)
            close_fds=True,
        )
        child_sock.close()
        self.conn = Connection(parent_sock.detach())
        self.ready = False
        self.pending: deque[int] = deque()  # indices sent and not answered, in order
        self.started_at = 0.0  # when the worker began the first pending response
        self.loading = False  # importing verifiers sent with the last chunk (not timed as scoring)
        self.known: set[int] = set()  # verifier ids this worker has resolved
        self.boot_deadline = time.monotonic() + _START_TIMEOUT_S

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_code(self) -> int | None:
        return self.process.poll()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send_bytes(pickle.dumps(None))


def _shutdown(workers: list[_Worker]) -> None:
    for worker in workers:
        if worker.pending:
            worker.kill()
        else:
            worker.stop()
    deadline = time.monotonic() + 2.0
    for worker in workers:
        try:
            worker.process.wait(max(0.01, deadline - time.monotonic()))
            worker.conn.close()
        except subprocess.TimeoutExpired:
            worker.kill()
    workers.clear()


# ----------------------------------------------------------------------------------------------
# The runner
# ----------------------------------------------------------------------------------------------


class _Abort(Exception):
    pass


class RewardRunner:
    """Score batches of responses with ``cfg`` (an ``mmrl.config.RewardConfig``); see the module doc.

    Workers start when the runner is created (so their start-up overlaps model loading). Use it as
    a context manager or call ``close()``. One ``score`` call runs at a time (calls from several
    threads are serialised).
    """

    def __init__(self, cfg: RewardConfig):
        self.cfg = cfg
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self._refs: dict[int, tuple[str, Any]] = {}
        self._ids: dict[str, int] = {}
        self._batches = itertools.count()
        self._restarts = 0
        self._boot_failures = 0
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)
        if cfg.verifier is not None:
            get_verifier(cfg.verifier)  # an unknown or unloadable verifier fails here, loudly
        self._ensure_workers(cfg.num_workers)

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> RewardRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker process (idempotent)."""
        with self._lock:
            self._closed = True
            self._finalizer()

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for monitoring and tests)."""
        return [w.pid for w in self._workers]

    def wait_until_ready(self, timeout_s: float = _START_TIMEOUT_S) -> None:
        """Block until every worker has started (optional: ``score`` waits for workers as needed).

        Raises ``RewardError`` when a worker dies while starting or does not start in time.
        """
        with self._lock:
            deadline = time.monotonic() + timeout_s
            while True:
                waiting = {w.conn: w for w in self._workers if not w.ready}
                if not waiting:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RewardError(f"{len(waiting)} scoring workers did not start within {timeout_s:g} s")
                for conn in wait(list(waiting), timeout=left):
                    worker = waiting[conn]
                    try:
                        message = pickle.loads(conn.recv_bytes())
                    except (EOFError, OSError):
                        self._replace(worker)
                        continue
                    if message[0] == "ready":
                        worker.ready = True
                        self._boot_failures = 0

    def _ensure_workers(self, count: int) -> None:
        while len(self._workers) < count:
            self._workers.append(_Worker())

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        if not worker.ready:
            self._boot_failures += 1
            if self._boot_failures >= _MAX_BOOT_FAILURES:
                self._workers.remove(worker)
                raise RewardError(
                    f"{self._boot_failures} scoring workers in a row died while starting (last exit code "
                    f"{worker.exit_code()}); their error is printed above on stderr"
                )
        self._workers[self._workers.index(worker)] = _Worker()
        self._restarts += 1

    # -- routing ---------------------------------------------------------------------------------

    def _verifier_id(self, name: str) -> tuple[int, Verifier]:
        fn = get_verifier(name)
        if name not in self._ids:
            if ":" in name or is_builtin(fn) or name in _entry_points():
                ref: tuple[str, Any] = ("name", name)
            else:
                try:
                    data = pickle.dumps(fn)
                except Exception as exc:
                    raise UserError(
                        f"verifier {name!r} ({getattr(fn, '__qualname__', fn)!r}) cannot be sent to scoring "
                        f"workers ({exc}); define it as a module-level function, or name it as "
                        f"'path/to/file.py:function' or 'package.module:function'"
                    ) from exc
                ref = ("pickle", data)
            self._ids[name] = len(self._ids)
            self._refs[self._ids[name]] = ref
        return self._ids[name], fn

    # -- scoring ---------------------------------------------------------------------------------

    def score(
        self,
        responses: Sequence[str],
        examples: Sequence[Example],
        truncated: Sequence[bool] | None = None,
    ) -> RunnerResult:
        """Score ``responses[i]`` against ``examples[i]``; ``truncated[i]`` means no answer.

        Returns scores in input order and counters (``COUNTER_KEYS``). Raises ``RewardError`` per
        the failure policy (module docstring) and ``UserError`` for an unknown verifier.
        """
        n = len(responses)
        if len(examples) != n or (truncated is not None and len(truncated) != n):
            raise ValueError(
                f"RewardRunner.score needs as many examples and truncated flags as responses: "
                f"{n} responses, {len(examples)} examples, "
                f"{'no' if truncated is None else len(truncated)} truncated flags"
            )
        flags = [False] * n if truncated is None else [bool(t) for t in truncated]
        with self._lock:
            if self._closed:
                raise RuntimeError("RewardRunner.score called after close()")
            restarts_before = self._restarts
            scores: list[Score | None] = [None] * n
            traces: list[str | None] = [None] * n
            names = [self.cfg.verifier if self.cfg.verifier is not None else ex.task for ex in examples]
            routed = [self._verifier_id(name) for name in names]
            options = {
                "accuracy_weight": self.cfg.accuracy_weight,
                "format_weight": self.cfg.format_weight,
                **self.cfg.kwargs,
            }
            state = _BatchState(n, self.cfg)
            try:
                remote: list[int] = []
                for i, (_, fn) in enumerate(routed):
                    if self.cfg.num_workers == 0 and bounds_its_time(fn):
                        scores[i], traces[i] = score_detailed(
                            fn, responses[i], examples[i], truncated=flags[i], **options
                        )
                        state.record(i, scores[i], traces[i], examples, names)
                    else:
                        remote.append(i)
                if remote:
                    self._run_remote(
                        remote, responses, examples, flags, routed, options, scores, traces, state, names
                    )
            except _Abort:
                pass
            finished = [s for s in scores if s is not None]
            counters = _count(finished, self._restarts - restarts_before, n)
            state.raise_if_needed(counters)
            assert len(finished) == n
            return RunnerResult([self._apply_policy(s) for s in finished], counters)  # type: ignore[arg-type]

    def _apply_policy(self, score: Score) -> Score:
        if score.reward is not None or score.status == "unparsable_gold" or self.cfg.on_failure != "zero":
            return score
        message = f"{score.message} (scored 0 by reward.on_failure=zero)"
        return Score(0.0, False, score.status, {"accuracy": 0.0, "format": 0.0}, None, message)

    def _run_remote(
        self,
        indices: list[int],
        responses: Sequence[str],
        examples: Sequence[Example],
        flags: list[bool],
        routed: list[tuple[int, Verifier]],
        options: dict[str, Any],
        scores: list[Score | None],
        traces: list[str | None],
        state: _BatchState,
        names: list[str],
    ) -> None:
        self._ensure_workers(max(1, self.cfg.num_workers))
        batch_id = next(self._batches)
        queue = deque(indices)
        light: dict[int, Example] = {}
        chunk = max(1, min(_MAX_CHUNK, math.ceil(len(indices) / (4 * len(self._workers)))))
        timeout = self.cfg.timeout_s

        def payload(i: int) -> tuple:
            ex = examples[i]
            if ex.images:
                key = id(ex)
                if key not in light:
                    light[key] = dataclasses.replace(ex, images=())
                ex = light[key]
            return (i, routed[i][0], responses[i], ex, flags[i])

        def finish(i: int, result: Score, trace: str | None) -> None:
            scores[i] = result
            traces[i] = trace
            state.record(i, result, trace, examples, names)

        try:
            while queue or any(w.pending for w in self._workers):
                now = time.monotonic()
                for worker in self._workers:
                    if not worker.ready or not queue or len(worker.pending) >= chunk:
                        continue
                    take = [queue.popleft() for _ in range(min(chunk, len(queue)))]
                    vids = {routed[i][0] for i in take} - worker.known
                    data = pickle.dumps(
                        (
                            "score",
                            batch_id,
                            {v: self._refs[v] for v in vids},
                            [payload(i) for i in take],
                            options,
                        )
                    )
                    if worker.pending and len(data) > _SMALL_MESSAGE:
                        queue.extendleft(
                            reversed(take)
                        )  # wait until it is idle: never block on a busy worker
                        continue
                    try:
                        if worker.exit_code() is not None:
                            raise BrokenPipeError("the worker has exited")
                        worker.conn.send_bytes(data)
                    except OSError:  # it died since its last message (OOM killer, kill -9)
                        queue.extendleft(reversed(take))
                        self._lost(worker, queue, finish)
                        continue
                    if not worker.pending or vids:
                        worker.started_at = now
                    worker.loading = bool(vids)
                    worker.known |= vids
                    worker.pending.extend(take)
                deadlines = [w.started_at + self._limit(w) for w in self._workers if w.pending]
                deadlines += [w.boot_deadline for w in self._workers if not w.ready]
                wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else 0.05
                by_conn = {w.conn: w for w in self._workers}
                for conn in wait(list(by_conn), timeout=wait_s):
                    worker = by_conn[conn]
                    try:
                        message = pickle.loads(conn.recv_bytes())
                    except (EOFError, OSError):
                        self._lost(worker, queue, finish)
                        continue
                    if message[0] == "ready":
                        worker.ready = True
                        self._boot_failures = 0
                        continue
                    if message[0] == "loaded":
                        worker.loading = False
                        worker.started_at = time.monotonic()
                        continue
                    _, bid, i, result, trace = message
                    if bid != batch_id or not worker.pending or worker.pending[0] != i:
                        continue  # a late answer from an abandoned batch
                    worker.pending.popleft()
                    worker.started_at = time.monotonic()
                    finish(i, result, trace)
                now = time.monotonic()
                for worker in list(self._workers):
                    if worker.pending and now - worker.started_at > self._limit(worker):
                        i = worker.pending.popleft()
                        queue.extendleft(reversed(worker.pending))
                        worker.pending.clear()
                        if worker.loading:
                            message = f"loading the verifier took more than {_LOAD_TIMEOUT_S:g} s; the worker was killed"
                        else:
                            message = f"scoring took longer than reward.timeout_s={timeout:g} s; the worker was killed"
                        self._replace(worker)
                        finish(i, Score(None, None, "timeout", {}, None, message), None)
                    elif not worker.ready and now > worker.boot_deadline:
                        raise RewardError(
                            f"a scoring worker did not start within {_START_TIMEOUT_S:g} s "
                            f"(exit code {worker.exit_code()})"
                        )
        except BaseException:
            # Abort (too many failures, Ctrl-C, a bug): busy workers may hold stale work; restart them.
            for worker in list(self._workers):
                if worker.pending:
                    worker.pending.clear()
                    self._replace(worker)
            raise

    def _limit(self, worker: _Worker) -> float:
        return _LOAD_TIMEOUT_S if worker.loading else self.cfg.timeout_s

    def _lost(self, worker: _Worker, queue: deque[int], finish: Any) -> None:
        """A worker died (its verifier called os._exit, crashed the interpreter, was OOM-killed)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(1)
        code = worker.exit_code()
        pending = list(worker.pending)
        worker.pending.clear()
        self._replace(worker)
        if pending:
            queue.extendleft(reversed(pending[1:]))
            message = f"the scoring worker died while scoring this response (exit code {code})"
            finish(pending[0], Score(None, None, "error", {}, None, message), message)


class _BatchState:
    """Failures of one batch: counts, the first traceback, warnings, and the early stop."""

    def __init__(self, n: int, cfg: RewardConfig):
        self.n = n
        self.cfg = cfg
        self.failures = 0
        self.first: str | None = None
        self.warned = 0

    def record(
        self, i: int, result: Score, trace: str | None, examples: Sequence[Example], names: list[str]
    ) -> None:
        if result.status not in ("timeout", "error"):
            return
        self.failures += 1
        where = f"example {examples[i].id!r} (verifier {names[i]!r}, response {i})"
        if self.first is None:
            self.first = f"{result.status} on {where}: {result.message}" + (f"\n{trace}" if trace else "")
        if self.warned < _MAX_WARNINGS:
            self.warned += 1
            log.warning("reward %s on %s: %s", result.status, where, result.message)
        if self.cfg.on_failure == "raise" or self.failures > self.cfg.max_error_rate * self.n:
            raise _Abort

    def raise_if_needed(self, counters: dict[str, int]) -> None:
        if self.failures == 0:
            return
        if self.warned < self.failures:
            log.warning("reward: %d more failures in this batch not shown", self.failures - self.warned)
        rule = (
            "reward.on_failure=raise"
            if self.cfg.on_failure == "raise"
            else f"more than reward.max_error_rate={self.cfg.max_error_rate:g} of the batch"
        )
        if self.cfg.on_failure == "raise" or self.failures > self.cfg.max_error_rate * self.n:
            raise RewardError(
                f"{self.failures} of {self.n} responses could not be scored so far "
                f"({counters['timeout']} timeouts, {counters['error']} errors): {rule}. First failure: {self.first}"
            )


def _count(scores: list[Score], restarts: int, n: int) -> dict[str, int]:
    counters = dict.fromkeys(COUNTER_KEYS, 0)
    counters["total"] = n
    for s in scores:
        counters[s.status] += 1
        counters["correct"] += s.correct is True
    counters["workers_restarted"] = restarts
    return counters
