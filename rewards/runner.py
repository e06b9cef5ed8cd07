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
other importable module-level functions by pickle. A function a fresh interpreter cannot import
(defined in ``__main__``, a notebook, a lambda, a local function) runs in this process instead,
each call in a helper thread bounded by ``timeout_s`` (a call past it is scored ``timeout`` and
abandoned: a thread cannot be killed); a warning at start says so. Examples are sent without their
images (verifiers score text). With ``num_workers=0`` the built-in verifiers score in this process
(they bound their own work, see ``rewards.expr.Budget``) and any other verifier, and the built-in
``mathruler`` (sympy has no time bound), still goes to one worker process, so the timeout guarantee
holds either way (``rewards.scoring.bounds_its_time``).

Several weighted reward functions (``reward.functions``, or ``RewardRunner(cfg, functions)``) are
each scored as above and summed by ``rewards.functions.combine``; a batched one (TRL's
``fn(completions, **columns)``, EasyR1's ``fn(reward_inputs)``) is called once per batch in one
worker, killed past ``timeout_s`` times the batch's size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
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
from mmrl.plugins import describe
from mmrl.types import SCORE_STATUSES, Example, Score
from rewards.functions import (
    RewardFunction,
    call_batch,
    check_columns,
    combine,
    detect_style,
    function_name,
    resolve_functions,
)
from rewards.registry import _entry_points, get_verifier, is_builtin
from rewards.scoring import Blend, blend_for, bounds_its_time, finish_score, score_detailed, to_score

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


def _resolve(ref: tuple[Any, ...]) -> tuple[Any, ...]:
    """``(fn, name, style, blend, kwargs)`` from what the parent sent (``_Route.ref``)."""
    kind, value, name, style, blend, kwargs = ref
    fn = pickle.loads(value) if kind == "pickle" else get_verifier(value)
    return fn, name, style, blend, kwargs


def _safe_dumps(message: tuple) -> bytes:
    try:
        return pickle.dumps(message)
    except Exception as exc:  # a batched function returned something that cannot be sent back
        kind, batch_id, *_ = message
        error = Score(None, None, "error", {}, None, f"the reward cannot be sent back: {exc}"[:500])
        if kind == "batch_result":
            return pickle.dumps((kind, batch_id, [error] * len(message[2]), None))
        return pickle.dumps((kind, batch_id, message[2], error, None))


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

    verifiers: dict[int, tuple[Any, ...] | BaseException] = {}
    conn.send_bytes(pickle.dumps(("ready", os.getpid())))
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        if message is None:
            return
        kind, batch_id, refs, *work = message
        if refs:
            for vid, ref in refs.items():
                try:
                    verifiers[vid] = _resolve(ref)
                except BaseException as exc:
                    verifiers[vid] = exc
            # Importing a verifier's module is not scoring: the timeout clock starts after this.
            conn.send_bytes(pickle.dumps(("loaded", batch_id)))
        if kind == "batch":
            vid, texts, examples, lengths = work
            entry = verifiers[vid]
            if isinstance(entry, BaseException):
                error = Score(
                    None, None, "error", {}, None, f"the worker cannot load the reward function: {entry!r}"
                )
                values, trace = [error] * len(texts), None
            else:
                fn, name, style, _, kwargs = entry
                try:
                    values, trace = call_batch(
                        RewardFunction(name, fn, style, kwargs=kwargs), texts, examples, lengths
                    )
                except BaseException as exc:  # even KeyboardInterrupt: this process must keep going
                    error = Score(None, None, "error", {}, None, f"{type(exc).__name__}: {exc}"[:500])
                    values, trace = [error] * len(texts), None
            conn.send_bytes(_safe_dumps(("batch_result", batch_id, values, trace)))
            continue
        for index, vid, response, example, truncated in work[0]:
            entry = verifiers[vid]
            if isinstance(entry, BaseException):
                result = Score(
                    None, None, "error", {}, None, f"the worker cannot load the verifier: {entry!r}"
                )
                trace = f"loading the verifier failed in the worker: {entry!r}"
            else:
                fn, _, style, blend, kwargs = entry
                try:
                    result, trace = score_detailed(
                        fn, response, example, truncated=truncated, blend=blend, style=style, **kwargs
                    )
                except BaseException as exc:  # even KeyboardInterrupt: this process must keep going
                    result = Score(None, None, "error", {}, None, f"{type(exc).__name__}: {exc}"[:500])
                    trace = f"{type(exc).__name__}: {exc}"
            conn.send_bytes(_safe_dumps(("result", batch_id, index, result, trace)))


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


@dataclass(frozen=True)
class _Route:
    """How one reward function is called: its id in the workers, the blend of its reward, and
    where it runs (``inline``: here; ``thread``: here, in a helper thread under the timeout;
    ``worker``: in the scoring workers)."""

    vid: int
    rf: RewardFunction
    blend: Blend | None
    where: str


@dataclass
class _Work:
    """One ``score`` call's inputs."""

    responses: Sequence[str]
    examples: Sequence[Example]
    flags: list[bool]
    lengths: list[int | None]
    _light: dict[int, Example] = field(default_factory=dict)

    def light(self, i: int) -> Example:
        """Example ``i`` without its images (verifiers score text; images are not sent)."""
        ex = self.examples[i]
        if not ex.images:
            return ex
        if id(ex) not in self._light:
            self._light[id(ex)] = dataclasses.replace(ex, images=())
        return self._light[id(ex)]


def _worker_ref(rf: RewardFunction) -> tuple[str, Any] | None:
    """What a worker resolves ``rf`` from: its spec (a ``module:fn`` or ``file.py:fn``, a built-in,
    an entry point), its file (a function of a ``file.py:fn`` module), else the function by
    reference (pickle) when a fresh interpreter can import it; ``None`` when it cannot (defined in
    ``__main__``, a notebook, a lambda or a local function)."""
    spec, fn = rf.spec, rf.fn
    if spec is not None and (":" in spec or is_builtin(fn) or spec in _entry_points()):
        return ("name", spec)
    module_name, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not isinstance(module_name, str) or module_name == "__main__" or "<" in qualname:
        return None
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if module_name.startswith("mmrl_user_") and path and "." not in qualname:
        return ("name", f"{path}:{qualname}")  # loaded from a file: the worker loads the file
    if module is None or getattr(module, "__spec__", None) is None:
        return None
    try:
        return ("pickle", pickle.dumps(fn))
    except Exception:
        return None


def _in_thread(call: Any, timeout: float) -> Any:
    """``call()`` in a helper thread; its result, or ``None`` when it runs past ``timeout`` (the
    thread is abandoned: Python cannot stop it; it is a daemon, so it never blocks the exit)."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(call()), name="mmrl-reward", daemon=True)
    thread.start()
    thread.join(timeout)
    return box[0] if box else None


class RewardRunner:
    """Score batches of responses with ``cfg`` (an ``mmrl.config.RewardConfig``); see the module doc.

    Workers start when the runner is created (so their start-up overlaps model loading). Use it as
    a context manager or call ``close()``. One ``score`` call runs at a time (calls from several
    threads are serialised).
    """

    def __init__(self, cfg: RewardConfig, functions: Sequence[Any] = ()):
        self.cfg = cfg
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self._refs: dict[int, tuple[Any, ...]] = {}
        self._routes: dict[Any, _Route] = {}
        self._batches = itertools.count()
        self._restarts = 0
        self._boot_failures = 0
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)
        # Every name is resolved and every signature checked here, before any model loads.
        entries = [*cfg.functions, *functions]
        self.functions: list[RewardFunction] | None = resolve_functions(entries) if entries else None
        if self.functions is not None:
            self._function_routes = [self._route(("function", j), rf) for j, rf in enumerate(self.functions)]
        elif cfg.verifier is not None:
            self._named_route(cfg.verifier)  # an unknown or unloadable verifier fails here, loudly
        self._ensure_workers(cfg.num_workers)

    @property
    def component_names(self) -> tuple[str, ...]:
        """The reward functions' names (``Score.components`` keys, logged as ``reward/<name>``);
        empty with one verifier per example."""
        return tuple(rf.name for rf in self.functions) if self.functions is not None else ()

    def check_examples(self, examples: Sequence[Example]) -> None:
        """Fail now (``UserError``) rather than at the first batch, after the model has loaded, when
        a TRL-style function names a column the data lacks, a task names no verifier, or a reward
        function that is not built in cannot score at all.

        For the last, the first example's gold answer is scored as a response (``\\boxed{GOLD}``),
        where the batches will be scored (in a worker when it can import the function): a function
        that raises on it, returns something unusable (NaN, an infinity, text, a list of the wrong
        length) or cannot be loaded by the worker fails here. A timeout does not (a first call may
        load something); a built-in verifier is not tried (``check_gold`` reads every gold at load).
        """
        for example in examples[:1]:
            if self.functions is not None:
                for rf in self.functions:
                    check_columns(rf, example)
                custom = any(not is_builtin(rf.fn) for rf in self.functions)
            else:
                name = self.cfg.verifier if self.cfg.verifier is not None else example.task
                custom = not is_builtin(self._named_route(name).rf.fn)
            if custom:
                self._try_gold(example)

    def _try_gold(self, example: Example) -> None:
        """Score ``example``'s gold answer as a response; raise ``UserError`` when that is an error."""
        probe = f"\\boxed{{{example.answer}}}"
        # Counted and judged here, not by the failure policy: one error of one response is the verdict.
        policy = dataclasses.replace(self.cfg, on_failure="mask", max_error_rate=1.0)
        # Token lengths are unknown before the tokenizer loads; the characters bound them.
        work = _Work([probe], [example], [False], [len(probe)])
        with self._lock:
            if self._closed:
                raise RuntimeError("RewardRunner.check_examples called after close()")
            (result,) = self._score_work(work, policy).scores
        if result.status == "error":
            raise UserError(
                f"the reward cannot score example {example.id!r} before training starts: given its own gold "
                f"answer as the response ({probe!r}), {result.message}. It would fail the same way on the "
                "responses; fix the reward function (nothing has been loaded or trained yet)"
            )

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
                self._receive_ready(waiting, left)

    def _receive_ready(self, waiting: dict[Any, Any], timeout: float) -> None:
        """Read the start-up messages of the ``waiting`` workers (by connection) for up to
        ``timeout`` seconds: a worker that says ready is marked so, one that died is replaced."""
        for conn in wait(list(waiting), timeout=timeout):
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

    def _named_route(self, name: str) -> _Route:
        """The route of one verifier for every example (``reward.verifier`` or ``Example.task``),
        blended as ``rewards.scoring.blend_for`` says."""
        if name not in self._routes:
            fn = get_verifier(name)
            style = detect_style(fn, name, self.cfg.kwargs)
            rf = RewardFunction(name, fn, style, spec=name, kwargs=dict(self.cfg.kwargs))
            blend = blend_for(fn, self.cfg.accuracy_weight, self.cfg.format_weight)
            self._routes[name] = self._route(name, rf, blend)
        return self._routes[name]

    def _route(self, key: Any, rf: RewardFunction, blend: Blend | None = None) -> _Route:
        """Where ``rf`` runs: here when it bounds its own time (a built-in, ``num_workers=0``), in
        the workers when they can import it, else here in a helper thread under the timeout (a
        function of ``__main__``, a notebook, a lambda or a local function)."""
        vid = len(self._refs)
        ref = _worker_ref(rf)
        inline = (
            rf.style in ("sample", "easyr1_sample") and self.cfg.num_workers == 0 and bounds_its_time(rf.fn)
        )
        where = "inline" if inline else "worker" if ref is not None else "thread"
        if where == "thread":
            log.warning(
                "reward function %r (%s) cannot be imported by the scoring workers: it runs in this process, "
                "each call under reward.timeout_s=%g s (a call past it is abandoned, not killed). To run it "
                "in the workers, define it at module level in a module and name it 'package.module:%s' or "
                "'path/to/file.py:%s'",
                rf.name,
                describe(rf.fn),
                self.cfg.timeout_s,
                function_name(rf.fn),
                function_name(rf.fn),
            )
        if ref is not None:
            self._refs[vid] = (*ref, rf.name, rf.style, blend, rf.kwargs)
        else:
            self._refs[vid] = ("local",)
        route = _Route(vid, rf, blend, where)
        self._routes[key] = route
        return route

    # -- scoring ---------------------------------------------------------------------------------

    def score(
        self,
        responses: Sequence[str],
        examples: Sequence[Example],
        truncated: Sequence[bool] | None = None,
        lengths: Sequence[int] | None = None,
    ) -> RunnerResult:
        """Score ``responses[i]`` against ``examples[i]``; ``truncated[i]`` means no answer (unless
        ``reward.score_truncated``, which scores a cut-off response like any other); ``lengths[i]``
        is the response's length in tokens (EasyR1's ``response_length``; ``None`` when unknown).

        With ``reward.functions`` (or functions given to the runner) the reward is their weighted
        sum (``rewards.functions.combine``); else each example's verifier scores it. Returns scores
        in input order and counters (``COUNTER_KEYS``). Raises ``RewardError`` per the failure
        policy (module docstring) and ``UserError`` for an unknown verifier.
        """
        n = len(responses)
        if len(examples) != n or (truncated is not None and len(truncated) != n):
            raise ValueError(
                f"RewardRunner.score needs as many examples and truncated flags as responses: "
                f"{n} responses, {len(examples)} examples, "
                f"{'no' if truncated is None else len(truncated)} truncated flags"
            )
        if truncated is None or self.cfg.score_truncated:
            flags = [False] * n
        else:
            flags = [bool(t) for t in truncated]
        sizes = list(lengths) if lengths is not None else [None] * n
        with self._lock:
            if self._closed:
                raise RuntimeError("RewardRunner.score called after close()")
            return self._score_work(_Work(responses, examples, flags, sizes), self.cfg)

    def _score_work(self, work: _Work, policy: RewardConfig) -> RunnerResult:
        """``score``'s work under the lock, with ``policy``'s ``on_failure`` and ``max_error_rate``."""
        n = len(work.responses)
        restarts_before = self._restarts
        state = _BatchState(n, policy)
        if self.functions is None:
            names = [self.cfg.verifier if self.cfg.verifier is not None else ex.task for ex in work.examples]
            passes = [[self._named_route(name) for name in names]]
        else:
            passes = [[route] * n for route in self._function_routes]
        parts: list[list[Score | None]] = []
        try:
            for routes in passes:
                parts.append([None] * n)
                self._score_routes(routes, work, parts[-1], state)
        except _Abort:
            pass
        if self.functions is None:
            finished = [s for s in parts[0] if s is not None]
        elif all(s is not None for p in parts for s in p) and len(parts) == len(passes):
            finished = [combine(self.functions, [p[i] for p in parts]) for i in range(n)]  # type: ignore[misc]
            self._record_sums(finished, work, state)
        else:  # stopped early: count what was scored
            finished = [s for p in parts for s in p if s is not None]
        counters = _count(finished, self._restarts - restarts_before, n)
        state.raise_if_needed(counters)
        assert len(finished) == n
        return RunnerResult([self._apply_policy(s, policy) for s in finished], counters)

    @staticmethod
    def _record_sums(sums: list[Score], work: _Work, state: _BatchState) -> None:
        """Count a weighted sum that is an error while every part was fine (one not finite in
        float32) like any failure: logged, and under ``on_failure`` and ``max_error_rate``."""
        try:
            for i, result in enumerate(sums):
                if result.status == "error" and i not in state.failed:
                    state.record(i, result, None, work.examples[i].id, "reward.functions")
        except _Abort:
            pass  # raise_if_needed raises

    def _score_routes(
        self, routes: list[_Route], work: _Work, scores: list[Score | None], state: _BatchState
    ) -> None:
        """Fill ``scores[i]`` with ``routes[i]``'s score of response ``i``: per response (here, in a
        helper thread or in the workers), or once per batch for a batched function."""
        remote: list[int] = []
        batches: dict[int, list[int]] = {}
        for i, route in enumerate(routes):
            if route.rf.style in ("batch", "easyr1"):
                batches.setdefault(route.vid, []).append(i)
            elif route.where == "worker":
                remote.append(i)
            else:
                call = functools.partial(
                    score_detailed,
                    route.rf.fn,
                    work.responses[i],
                    work.examples[i],
                    truncated=work.flags[i],
                    blend=route.blend,
                    style=route.rf.style,
                    **route.rf.kwargs,
                )
                if route.where == "inline":
                    result, trace = call()
                else:
                    result, trace = _in_thread(call, self.cfg.timeout_s) or (self._timed_out(), None)
                scores[i] = result
                state.record(i, result, trace, work.examples[i].id, route.rf.name)
        if remote:
            self._run_remote(remote, work, routes, scores, state)
        for indices in batches.values():
            self._score_batch(routes[indices[0]], indices, work, scores, state)

    def _timed_out(self, batch: int = 0) -> Score:
        limit = f"{self.cfg.timeout_s:g} s" if not batch else f"{self.cfg.timeout_s:g} s x {batch} responses"
        return Score(None, None, "timeout", {}, None, f"scoring took longer than reward.timeout_s ({limit})")

    def _score_batch(
        self, route: _Route, indices: list[int], work: _Work, scores: list[Score | None], state: _BatchState
    ) -> None:
        """One call of a batched function on the responses ``indices`` (a truncated one as ``""``),
        bounded by ``reward.timeout_s`` per response."""
        texts = ["" if work.flags[i] else work.responses[i] for i in indices]
        examples = [work.examples[i] for i in indices]
        lengths = [work.lengths[i] for i in indices]
        timeout = self.cfg.timeout_s * len(indices)
        if route.where == "worker":
            values, trace = self._run_remote_batch(route, texts, examples, lengths, timeout)
        else:
            done = _in_thread(functools.partial(call_batch, route.rf, texts, examples, lengths), timeout)
            values, trace = done or ([self._timed_out(len(indices))] * len(indices), None)
        for i, value in zip(indices, values, strict=True):
            scores[i] = finish_score(to_score(value), work.responses[i], work.flags[i], route.blend)
            state.record(i, scores[i], trace, work.examples[i].id, route.rf.name)  # type: ignore[arg-type]

    @staticmethod
    def _apply_policy(score: Score, policy: RewardConfig) -> Score:
        if score.reward is not None or score.status == "unparsable_gold" or policy.on_failure != "zero":
            return score
        message = f"{score.message} (scored 0 by reward.on_failure=zero)"
        return Score(0.0, False, score.status, {"accuracy": 0.0, "format": 0.0}, None, message)

    def _run_remote(
        self,
        indices: list[int],
        work: _Work,
        routes: list[_Route],
        scores: list[Score | None],
        state: _BatchState,
    ) -> None:
        self._ensure_workers(max(1, self.cfg.num_workers))
        batch_id = next(self._batches)
        queue = deque(indices)
        chunk = max(1, min(_MAX_CHUNK, math.ceil(len(indices) / (4 * len(self._workers)))))
        timeout = self.cfg.timeout_s

        def payload(i: int) -> tuple:
            return (i, routes[i].vid, work.responses[i], work.light(i), work.flags[i])

        def finish(i: int, result: Score, trace: str | None) -> None:
            scores[i] = result
            state.record(i, result, trace, work.examples[i].id, routes[i].rf.name)

        try:
            while queue or any(w.pending for w in self._workers):
                now = time.monotonic()
                for worker in self._workers:
                    if not worker.ready or not queue or len(worker.pending) >= chunk:
                        continue
                    take = [queue.popleft() for _ in range(min(chunk, len(queue)))]
                    vids = {routes[i].vid for i in take} - worker.known
                    data = pickle.dumps(
                        ("score", batch_id, {v: self._refs[v] for v in vids}, [payload(i) for i in take])
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

    def _ready_worker(self) -> _Worker:
        """A started worker (waiting for one to start if needed)."""
        self._ensure_workers(max(1, self.cfg.num_workers))
        while True:
            ready = [w for w in self._workers if w.ready]
            if ready:
                return ready[0]
            waiting = {w.conn: w for w in self._workers}
            deadline = min(w.boot_deadline for w in self._workers)
            if time.monotonic() > deadline:
                raise RewardError(f"no scoring worker started within {_START_TIMEOUT_S:g} s")
            self._receive_ready(waiting, max(0.0, deadline - time.monotonic()))

    def _run_remote_batch(
        self,
        route: _Route,
        texts: list[str],
        examples: list[Example],
        lengths: list[int | None],
        timeout: float,
    ) -> tuple[list[Any], str | None]:
        """One call of a batched function in a worker, killed past ``timeout`` (importing its module
        is not timed); ``(values, traceback)``."""
        worker = self._ready_worker()
        batch_id = next(self._batches)
        refs = {route.vid: self._refs[route.vid]} if route.vid not in worker.known else {}
        light = [dataclasses.replace(ex, images=()) if ex.images else ex for ex in examples]
        try:
            worker.conn.send_bytes(pickle.dumps(("batch", batch_id, refs, route.vid, texts, light, lengths)))
        except OSError:
            self._replace(worker)
            return self._batch_failure(len(texts), "the scoring worker died before scoring this batch"), None
        worker.known.add(route.vid)
        loading, started = bool(refs), time.monotonic()
        while True:
            limit = _LOAD_TIMEOUT_S if loading else timeout
            left = started + limit - time.monotonic()
            if left <= 0 or not wait([worker.conn], timeout=left):
                self._replace(worker)
                if loading:
                    message = f"loading the reward function took more than {_LOAD_TIMEOUT_S:g} s; the worker was killed"
                    return self._batch_failure(len(texts), message, "timeout"), None
                return [self._timed_out(len(texts))] * len(texts), None
            try:
                message = pickle.loads(worker.conn.recv_bytes())
            except (EOFError, OSError):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.process.wait(1)
                code = worker.exit_code()
                self._replace(worker)
                text = f"the scoring worker died while scoring this batch (exit code {code})"
                return self._batch_failure(len(texts), text), text
            if message[0] == "loaded":
                loading, started = False, time.monotonic()
            elif message[0] == "batch_result" and message[1] == batch_id:
                return message[2], message[3]

    @staticmethod
    def _batch_failure(n: int, message: str, status: str = "error") -> list[Score]:
        return [Score(None, None, status, {}, None, message)] * n  # type: ignore[arg-type]

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
    """Failures of one batch: counts (of responses), the first traceback, warnings, and the early stop."""

    def __init__(self, n: int, cfg: RewardConfig):
        self.n = n
        self.cfg = cfg
        self.failed: set[int] = set()
        self.first: str | None = None
        self.warned = 0

    @property
    def failures(self) -> int:
        return len(self.failed)

    def record(self, i: int, result: Score, trace: str | None, example_id: str, name: str) -> None:
        if result.status not in ("timeout", "error"):
            return
        self.failed.add(i)
        where = f"example {example_id!r} (verifier {name!r}, response {i})"
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
        if self.warned < self.failures:  # (a response failing in several functions warns once per function)
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
