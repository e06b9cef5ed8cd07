"""The verifier registry: one way to name a verifier, four ways to provide one.

A verifier is a plain function ``fn(response: str, example: Example, **kwargs) -> Score | float |
None``. ``get_verifier(name)`` finds it, in this order (``mmrl.plugins.Registry``, as for every
extension kind of mmrl):

1. a name registered with ``@register_verifier("name")`` (the built-ins ``math``, ``geometry``,
   ``chart``, ``chart_official``, ``choice``, ``format`` register this way, in the modules of
   ``rewards``);
2. ``"pkg.module:fn"``: imported from an installed or importable module;
3. ``"path/to/file.py:fn"``: loaded from a file (relative paths from the working directory);
4. an entry point named ``name`` in the group ``mmrl.verifiers`` of any installed distribution
   (``[project.entry-points."mmrl.verifiers"] my_task = "my_pkg.verify:my_task"``).

An unknown name raises ``UnknownVerifierError`` listing the known names and the nearest one.
``docs/verifiers.md`` has a worked example of each way.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Any

from mmrl.plugins import PluginError, Registry, UnknownNameError

__all__ = [
    "ENTRY_POINT_GROUP",
    "VERIFIERS",
    "UnknownVerifierError",
    "Verifier",
    "get_verifier",
    "is_builtin",
    "list_verifiers",
    "register_verifier",
]

ENTRY_POINT_GROUP = "mmrl.verifiers"

Verifier = Callable[..., Any]


class UnknownVerifierError(UnknownNameError):
    """No verifier has this name; the message lists the known ones and the nearest."""


def _as_verifier(obj: Any, name: str) -> Verifier:
    if not callable(obj):
        raise PluginError(f"verifier {name!r} is a {type(obj).__name__}, not a function")
    return obj


#: Every verifier by name; the built-ins are the ``@register_verifier`` functions of ``rewards``.
VERIFIERS: Registry[Verifier] = Registry(
    "verifier",
    group=ENTRY_POINT_GROUP,
    builtins="rewards",
    adapt=_as_verifier,
    decorator="@rewards.register_verifier",
    error=UnknownVerifierError,
)


def register_verifier(name: str) -> Callable[[Verifier], Verifier]:
    """Register ``fn(response, example, **kwargs)`` under ``name`` (a decorator).

    >>> @register_verifier("doc_exact")
    ... def doc_exact(response, example):
    ...     return float(response.strip() == example.answer)
    >>> get_verifier("doc_exact") is doc_exact
    True
    """
    return VERIFIERS.register(name)


def is_builtin(fn: Verifier) -> bool:
    """True for the verifiers shipped in ``rewards`` (they bound their own running time)."""
    return getattr(fn, "__module__", "").startswith("rewards.") and fn in VERIFIERS.registered().values()


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return VERIFIERS.entry_points()


def list_verifiers() -> list[str]:
    """Every name ``get_verifier`` accepts without a ``:``: registered and entry-point names."""
    return VERIFIERS.names()


def get_verifier(name_or_spec: str | Verifier) -> Verifier:
    """The verifier function for a registered name, ``pkg.module:fn``, ``file.py:fn`` or entry point.

    A callable is returned unchanged. Raises ``UnknownVerifierError`` (a ``UserError``) for an
    unknown name, and ``mmrl.plugins.PluginError`` (a ``UserError``) for a spec that cannot be loaded.
    """
    if callable(name_or_spec):
        return name_or_spec
    return VERIFIERS.resolve(name_or_spec)
