"""Run a call in a forked child that is killed after a deadline: a hang fails the test, never the suite.

``signal.alarm`` cannot interrupt one long C call (``10**999999999``, a sympy simplification), so
the call runs in a child process; the parent waits at most ``timeout_s`` and SIGKILLs it.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from typing import Any

DEADLINE_S = 20.0


def call_with_deadline(fn: Any, *args: Any, timeout_s: float = DEADLINE_S) -> Any:
    """``fn(*args)`` in a forked child; raises ``TimeoutError`` when it runs past ``timeout_s``."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, exit without running the parent's cleanup
        try:
            os.close(read_fd)
            payload = pickle.dumps(("ok", fn(*args)))
        except BaseException as exc:  # reported to the parent
            payload = pickle.dumps(("raised", repr(exc)))
        with os.fdopen(write_fd, "wb") as out:
            out.write(payload)
        os._exit(0)
    os.close(write_fd)
    deadline = time.monotonic() + timeout_s
    chunks = []
    with os.fdopen(read_fd, "rb") as pipe:
        os.set_blocking(pipe.fileno(), False)
        while True:
            try:
                chunk = pipe.read()
            except BlockingIOError:
                chunk = None
            if chunk:
                chunks.append(chunk)
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                rest = pipe.read()
                if rest:
                    chunks.append(rest)
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise TimeoutError(f"{getattr(fn, '__name__', fn)} ran past {timeout_s:g} s")
            time.sleep(0.01)
    status, value = pickle.loads(b"".join(chunks))
    if status == "raised":
        raise AssertionError(f"the call raised {value}")
    return value
