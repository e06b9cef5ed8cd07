"""A watchdog over the stages of a step (``trainer.stall_timeout_s``): a run never hangs silently.

Each stage (generate, score, logprob, update, sync, validate, checkpoint) runs inside
``watchdog.stage(name, pending)``; long stages call ``beat()`` as they make progress (the update
after every micro-batch). A thread looks at the clock every second or so:

* after ``timeout / 2`` without progress it logs one WARNING naming the stage, the step and the
  pending example ids;
* after ``timeout`` it logs an ERROR and interrupts the training thread with ``StallError`` (a
  signal handler installed while the watchdog runs, so a thread blocked in a wait is woken too);
  the command exits with code 1. If the process does not end within a grace period (a C call that
  never returns to Python), it is ended with ``os._exit(1)`` after the same message on stderr.

Every process runs its own watchdog: a rank waiting in a collective for a stalled one stalls in the
same stage, so each rank ends with the error rather than waiting forever. Collectives run inside
``collective(op)``: a rank stalled there says so ("waiting for the other ranks in <op>"), which tells
the waiting ranks from the stalled one, and a collective that fails (a peer exited) is an error
naming this rank and the op (``CollectiveError``), not a bare backend traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from mmrl.errors import UserError

log = logging.getLogger(__name__)

__all__ = ["CollectiveError", "StallError", "Watchdog", "collective"]

#: The signal that carries ``StallError`` into the training thread (handler installed by ``start``).
STALL_SIGNAL = signal.SIGUSR2
#: Most ids named in a message (a step may have thousands of samples pending).
SHOWN_IDS = 8


class StallError(UserError):
    """A stage made no progress for ``trainer.stall_timeout_s`` seconds."""


class CollectiveError(UserError):
    """A collective operation across ranks failed, usually because another rank stopped."""


#: The watchdog of this process while one runs (``Watchdog.start`` to ``close``), for ``collective``.
_active: Watchdog | None = None


@contextlib.contextmanager
def collective(op: str, rank: int = 0) -> Iterator[None]:
    """Run a collective ``op`` (e.g. "the all-reduce of reward_sum, ...") of process ``rank``.

    While it runs, the watchdog's messages say the stage is waiting for the other ranks in ``op``;
    an exception from it becomes ``CollectiveError`` naming the rank and the op.
    """
    dog = _active
    if dog is not None:
        dog.waiting = op
    try:
        yield
    except (UserError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise CollectiveError(
            f"rank {rank}: {op} failed ({type(exc).__name__}: {str(exc)[:300]}). Another rank has usually "
            "stopped or stalled first: its own message names the stage and the reason"
        ) from exc
    finally:
        if dog is not None:
            dog.waiting = None


@dataclass
class _Stage:
    name: str
    step: int
    pending: tuple[str, ...]
    last_progress: float = field(default_factory=time.monotonic)
    warned: bool = False


class Watchdog:
    """Warns about, then ends, a stage without progress for ``timeout_s`` (0 disables it).

    Args:
        timeout_s: ``trainer.stall_timeout_s``.
        rank: This process's rank, named in the messages.
        world_size: The number of processes (the rank is named when there are several).
        grace_s: How long to wait for the interrupted thread to unwind before ``os._exit(1)``.
    """

    def __init__(self, timeout_s: float, *, rank: int = 0, world_size: int = 1, grace_s: float | None = None):
        self.timeout_s = float(timeout_s)
        self.rank = rank
        self.world_size = world_size
        #: The collective this process is waiting in (``collective``), named in the messages.
        self.waiting: str | None = None
        self.grace_s = grace_s if grace_s is not None else max(10.0, min(120.0, 0.1 * self.timeout_s))
        self.step = 0
        self.fired: str | None = None
        self._stage: _Stage | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owner: int | None = None
        self._installed = False
        self._previous_handler: object = None

    @property
    def enabled(self) -> bool:
        return self.timeout_s > 0

    def start(self) -> None:
        """Start watching (from the thread that trains); a no-op when disabled or already started."""
        if not self.enabled or self._thread is not None:
            return
        global _active
        self._owner = threading.get_ident()
        _active = self
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(STALL_SIGNAL, self._raise_stall)
            self._installed = True
        self._thread = threading.Thread(target=self._watch, name="mmrl-watchdog", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop watching and restore the signal handler."""
        global _active
        if _active is self:
            _active = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._installed:
            signal.signal(STALL_SIGNAL, self._previous_handler)  # type: ignore[arg-type]
            self._installed = False

    @contextlib.contextmanager
    def stage(self, name: str, pending: Sequence[str] = ()) -> Iterator[None]:
        """Watch stage ``name`` of the current ``step`` while the block runs."""
        if not self.enabled:
            yield
            return
        with self._lock:
            outer, self._stage = self._stage, _Stage(name, self.step, tuple(pending))
        try:
            yield
        finally:
            with self._lock:
                self._stage = outer
                if outer is not None:
                    outer.last_progress = time.monotonic()

    def beat(self) -> None:
        """The current stage made progress."""
        with self._lock:
            if self._stage is not None:
                self._stage.last_progress = time.monotonic()

    # -- the watching thread ------------------------------------------------------------------------

    def _describe(self, stage: _Stage, idle: float) -> str:
        ids = list(stage.pending[:SHOWN_IDS])
        more = f" and {len(stage.pending) - SHOWN_IDS} more" if len(stage.pending) > SHOWN_IDS else ""
        pending = f"; pending examples: {', '.join(ids)}{more}" if ids else ""
        rank = f" on rank {self.rank}" if self.rank or self.world_size > 1 else ""
        waiting = f", waiting for the other ranks in {self.waiting}" if self.waiting else ""
        return (
            f"stage {stage.name!r} of step {stage.step}{rank} has made no progress for {idle:.0f} s"
            f"{waiting}{pending}"
        )

    def _watch(self) -> None:
        poll = min(1.0, self.timeout_s / 10)
        while not self._stop.wait(poll):
            if self.check(time.monotonic()) == "stall":
                self._interrupt()
                return

    def check(self, now: float) -> str | None:
        """Look at the current stage at time ``now`` (``time.monotonic``): ``"warn"`` (the WARNING
        was just logged), ``"stall"`` (``fired`` holds the error; the caller ends the run) or ``None``."""
        with self._lock:
            stage = self._stage
            if stage is None:
                return None
            idle = now - stage.last_progress
            warn = not stage.warned and idle >= self.timeout_s / 2
            stage.warned = stage.warned or warn
        if idle >= self.timeout_s:
            self.fired = (
                f"{self._describe(stage, idle)}: trainer.stall_timeout_s={self.timeout_s:g} reached, so the run "
                "was stopped. A generation engine or a verifier that never returns, or a rank waiting for another, "
                "are the usual causes; raise trainer.stall_timeout_s if the stage is merely slow"
            )
            log.error("%s", self.fired)
            return "stall"
        if warn:
            log.warning(
                "%s (trainer.stall_timeout_s=%g: the run stops at %g s)",
                self._describe(stage, idle),
                self.timeout_s,
                self.timeout_s,
            )
            return "warn"
        return None

    def _interrupt(self) -> None:
        """Raise ``StallError`` in the training thread; end the process if it does not unwind."""
        if self._installed and self._owner is not None:
            signal.pthread_kill(self._owner, STALL_SIGNAL)
        if self._stop.wait(self.grace_s):
            return  # the training thread unwound and closed the watchdog
        print(
            f"mmrl: error: {self.fired} (ending the process: it did not respond)", file=sys.stderr, flush=True
        )
        os._exit(1)

    def _raise_stall(self, signum: int, frame: object) -> None:
        raise StallError(self.fired or "a stage stalled (trainer.stall_timeout_s)")
