"""The verifier registry: one way to name a verifier, four ways to provide one.

A verifier is a plain function ``fn(response: str, example: Example, **kwargs) -> Score | float |
None``. ``get_verifier(name)`` finds it, in this order:

1. a name registered with ``@register_verifier("name")`` (the built-ins ``math``, ``geometry``,
   ``chart``, ``chart_official``, ``choice``, ``format`` register this way);
2. ``"pkg.module:fn"``: imported from an installed or importable module;
3. ``"path/to/file.py:fn"``: loaded from a file (relative paths from the working directory);
4. an entry point named ``name`` in the group ``mmrl.verifiers`` of any installed distribution
   (``[project.entry-points."mmrl.verifiers"] my_task = "my_pkg.verify:my_task"``).

An unknown name raises ``UnknownVerifierError`` listing the known names and the nearest one.
``docs/verifiers.md`` has a worked example of each way.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from mmrl.errors import UserError

__all__ = [
    "ENTRY_POINT_GROUP",
    "UnknownVerifierError",
    "Verifier",
    "get_verifier",
    "is_builtin",
    "list_verifiers",
    "register_verifier",
]

ENTRY_POINT_GROUP = "mmrl.verifiers"

Verifier = Callable[..., Any]

_REGISTRY: dict[str, Verifier] = {}
_LOADED: dict[str, Verifier] = {}  # specs and entry points already resolved


class UnknownVerifierError(UserError):
    """No verifier has this name; the message lists the known ones and the nearest."""


def register_verifier(name: str) -> Callable[[Verifier], Verifier]:
    """Register ``fn(response, example, **kwargs)`` under ``name`` (a decorator).

    >>> @register_verifier("doc_exact")
    ... def doc_exact(response, example):
    ...     return float(response.strip() == example.answer)
    >>> get_verifier("doc_exact") is doc_exact
    True
    """
    if not isinstance(name, str) or not name or ":" in name or name != name.strip():
        raise ValueError(f"a verifier name must be a non-empty string without ':' or spaces, got {name!r}")

    def decorate(fn: Verifier) -> Verifier:
        if not callable(fn):
            raise TypeError(f"@register_verifier({name!r}) must decorate a function, got {fn!r}")
        existing = _REGISTRY.get(name)
        if existing is not None and _origin(existing) != _origin(fn):
            raise ValueError(
                f"verifier {name!r} is already registered by {_origin(existing)}; "
                f"choose another name for {_origin(fn)}"
            )
        _REGISTRY[name] = fn
        return fn

    return decorate


def _origin(fn: Verifier) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def is_builtin(fn: Verifier) -> bool:
    """True for the verifiers shipped in ``rewards`` (they bound their own running time)."""
    return getattr(fn, "__module__", "").startswith("rewards.") and fn in _REGISTRY.values()


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def list_verifiers() -> list[str]:
    """Every name ``get_verifier`` accepts without a ``:``: registered and entry-point names."""
    return sorted(set(_REGISTRY) | set(_entry_points()))


def _is_file_spec(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _load_file(path_text: str) -> Any:
    path = Path(path_text).expanduser().resolve()
    if not path.is_file():
        raise UserError(f"verifier file not found: {path_text} (resolved to {path})")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    module_name = f"mmrl_user_verifier_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"cannot load verifier file {path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _load_spec(spec: str) -> Verifier:
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise UserError(
            f"verifier spec {spec!r} must look like 'pkg.module:function' or 'path/to/file.py:function'"
        )
    if _is_file_spec(target):
        module = _load_file(target)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise UserError(f"cannot import module {target!r} for verifier {spec!r}: {exc}") from exc
    fn = getattr(module, attr, None)
    if fn is None:
        names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        near = difflib.get_close_matches(attr, names, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f"; it defines {names}"
        raise UserError(f"{target} has no function {attr!r} for verifier {spec!r}{hint}")
    if not callable(fn):
        raise UserError(f"verifier {spec!r} is a {type(fn).__name__}, not a function")
    return fn


def get_verifier(name_or_spec: str | Verifier) -> Verifier:
    """The verifier function for a registered name, ``pkg.module:fn``, ``file.py:fn`` or entry point.

    A callable is returned unchanged. Raises ``UnknownVerifierError`` (a ``UserError``) for an
    unknown name, and ``UserError`` for a spec that cannot be loaded.
    """
    if callable(name_or_spec):
        return name_or_spec
    name = name_or_spec
    fn = _REGISTRY.get(name)
    if fn is not None:
        return fn
    fn = _LOADED.get(name)
    if fn is not None:
        return fn
    if not isinstance(name, str) or not name:
        raise UnknownVerifierError(f"a verifier must be a name or 'module:function', got {name!r}")
    if ":" in name:
        fn = _load_spec(name)
    else:
        entry = _entry_points().get(name)
        if entry is None:
            known = list_verifiers()
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
            hint = f"; did you mean {near[0]!r}?" if near else "."
            raise UnknownVerifierError(
                f"unknown verifier {name!r}{hint} Known verifiers: {', '.join(known)}. A custom one can be "
                f"named as 'pkg.module:function' or 'path/to/file.py:function', or installed under the "
                f"entry-point group {ENTRY_POINT_GROUP!r}."
            )
        try:
            fn = entry.load()
        except Exception as exc:
            raise UserError(
                f"entry point {name!r} ({entry.value}) of group {ENTRY_POINT_GROUP!r} failed to load: {exc}"
            ) from exc
        if not callable(fn):
            raise UserError(f"entry point {name!r} ({entry.value}) is not a function")
    _LOADED[name] = fn
    return fn
