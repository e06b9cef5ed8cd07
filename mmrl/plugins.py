"""One way to plug things in: a ``Registry`` per extension kind.

Every kind of extension mmrl looks up by name is a ``Registry``: advantage estimators and algorithm
presets (``mmrl.algos``), rollout engines (``mmrl.rollout``), data recipes (``mmrl.data``) and
verifiers (``rewards``). Each kind keeps the decorator users know (``register_estimator``,
``register_preset``, ``register_engine``, ``register_recipe``, ``register_verifier``); all of them
are ``Registry.register``. A name resolves, in this order, to:

1. an object registered under it. The built-ins register themselves when their module is imported;
   a registry declares the package that holds them (``builtins=``) and imports every public module
   of it before its first lookup, so adding a built-in is adding a file;
2. ``pkg.module:attr``, imported, or ``path/to/file.py:attr``, loaded from the file (a relative
   path is taken from the working directory);
3. an entry point with that name in the kind's group (e.g. ``mmrl.verifiers``) of an installed
   distribution: ``[project.entry-points."mmrl.verifiers"] my_task = "my_pkg.verify:my_task"``;
4. for kinds with a ``default_attr`` (recipes: ``RECIPE``), a module path or ``.py`` file defining it.

Anything else raises ``UnknownNameError``, which lists what exists and the nearest name::

    >>> colors = Registry("color", group="mmrl.doc_colors")
    >>> @colors.register("red")
    ... def red():
    ...     return "#f00"
    >>> colors["red"] is red, "red" in colors, list(colors)
    (True, True, ['red'])
    >>> colors["rad"]
    Traceback (most recent call last):
    ...
    mmrl.plugins.UnknownNameError: unknown color 'rad' (did you mean 'red'?); known: red. ...

``load_object`` is the project's one loader of ``module:attr`` and ``file.py:attr``.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from mmrl.errors import UserError

__all__ = ["PluginError", "Registry", "UnknownNameError", "load_module", "load_object"]

T = TypeVar("T")


class PluginError(UserError, ValueError):
    """An extension cannot be registered or loaded; the message says which and why."""


class UnknownNameError(PluginError):
    """No extension of this kind has this name; the message lists the known ones and the nearest."""


def is_file_spec(target: str) -> bool:
    """True when the part before ``:`` names a file (``x.py``, or anything with a path separator)."""
    return target.endswith(".py") or "/" in target or "\\" in target


def load_module(target: str, *, kind: str = "plugin", spec: str | None = None) -> ModuleType:
    """The module ``target`` names: an importable module path, or a Python file (loaded once).

    ``kind`` and ``spec`` (what the user wrote) name the request in error messages. A file is
    loaded as module ``mmrl_user_<stem>_<hash of its path>`` and kept in ``sys.modules``, so loading
    it again (or for another kind) returns the same module.
    """
    spec = target if spec is None else spec
    if not is_file_spec(target):
        try:
            return importlib.import_module(target)
        except ImportError as exc:
            raise PluginError(f"cannot import module {target!r} for {kind} {spec!r}: {exc}") from exc
    path = Path(target).expanduser().resolve()
    if not path.is_file():
        raise PluginError(f"{kind} file not found: {target} ({path} does not exist)")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    module_name = f"mmrl_user_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise PluginError(f"cannot load {kind} file {path}: not a Python source file")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def load_object(spec: str, *, kind: str = "plugin") -> Any:
    """The attribute ``spec = "pkg.module:attr"`` or ``"path/to/file.py:attr"`` names."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise PluginError(f"{kind} spec {spec!r} must look like 'pkg.module:attr' or 'path/to/file.py:attr'")
    module = load_module(target, kind=kind, spec=spec)
    if not hasattr(module, attr):
        names = sorted(n for n in vars(module) if not n.startswith("_"))
        near = difflib.get_close_matches(attr, names, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f"; it defines {', '.join(names) or 'nothing'}"
        raise PluginError(f"cannot import {kind} {spec!r}: {target} has no attribute {attr!r}{hint}")
    return getattr(module, attr)


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def describe(obj: Any) -> str:
    """``module.qualname`` of a function or class, else its ``repr``."""
    qualname = getattr(obj, "__qualname__", None)
    module = getattr(obj, "__module__", None)
    return f"{module}.{qualname}" if isinstance(qualname, str) and module else repr(obj)


def _same(a: Any, b: Any) -> bool:
    """The same object, or the same module-level function or class defined again (its module
    imported twice, e.g. by the reward workers); two lambdas or local functions never are."""
    if a is b:
        return True
    qualname = getattr(a, "__qualname__", None)
    return isinstance(qualname, str) and "<" not in qualname and describe(a) == describe(b)


class Registry(Generic[T]):
    """Named extensions of one kind, and their resolution (see the module docstring).

    Args:
        kind: What one entry is, for messages ("verifier", "data recipe", ...).
        group: The entry-point group of installed plugins (e.g. ``"mmrl.verifiers"``).
        builtins: The package whose public modules hold the built-ins; each is imported before the
            first lookup (its module-level registrations run then). ``None``: none to import.
        adapt: ``adapt(obj, name) -> T`` turns what a spec or entry point names (or what is
            registered) into an entry, or raises ``PluginError`` saying why it cannot be one.
        default_attr: For a name without ``:`` that is a module path or ``.py`` file, the attribute
            to take from it (recipes: ``"RECIPE"``).
        decorator: How users register one, for the unknown-name message (``"@rewards.register_verifier"``).
        error: The ``UnknownNameError`` subclass this kind raises.
    """

    def __init__(
        self,
        kind: str,
        *,
        group: str,
        builtins: str | None = None,
        adapt: Callable[[Any, str], T] | None = None,
        default_attr: str | None = None,
        decorator: str | None = None,
        error: type[UnknownNameError] = UnknownNameError,
    ):
        self.kind = kind
        self.group = group
        self.builtins = builtins
        self.default_attr = default_attr
        self.decorator = decorator
        self.error = error
        self._adapt = adapt
        self._entries: dict[str, T] = {}
        self._sources: dict[str, Any] = {}  # what each entry was made from (for clashes and messages)
        self._loaded: dict[str, T] = {}  # specs and entry points already resolved
        self._builtins_state = "pending" if builtins else "done"

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} registered)"

    # -- registering -------------------------------------------------------------------------------

    def register(self, name: str, obj: Any = None, *, replace: bool = False, origin: Any = None) -> Any:
        """Register ``obj`` under ``name`` and return it; without ``obj``, a decorator that does so.

        A name taken by another object raises ``PluginError`` unless ``replace=True``; registering
        the same function again (its module imported twice) is allowed. ``origin`` is what the
        entry was made from, when that is not ``obj`` itself (an estimator's function), for that
        comparison and for messages.
        """
        if not isinstance(name, str) or not name or ":" in name or name != name.strip():
            raise PluginError(
                f"a {self.kind} name must be a non-empty string without ':' or surrounding spaces, got {name!r}"
            )
        if obj is None:
            return lambda target: self.register(name, target, replace=replace)
        origin = obj if origin is None else origin
        existing = self._sources.get(name)
        if existing is not None and not replace and not _same(existing, origin):
            raise PluginError(
                f"{self.kind} {name!r} is already registered ({describe(existing)}); "
                f"choose another name for {describe(origin)}, or pass replace=True"
            )
        self._entries[name] = self._adapt(obj, name) if self._adapt is not None else obj
        self._sources[name] = origin
        return obj

    def unregister(self, name: str) -> None:
        """Forget ``name``."""
        self._entries.pop(name, None)
        self._sources.pop(name, None)
        self._loaded.pop(name, None)

    @contextlib.contextmanager
    def isolated(self) -> Iterator[Registry[T]]:
        """A block after which every registration and load made inside it is forgotten (for tests).

        The built-ins are loaded first, so they stay registered.
        """
        self.load_builtins()
        saved = dict(self._entries), dict(self._sources), dict(self._loaded)
        try:
            yield self
        finally:
            self._entries, self._sources, self._loaded = saved

    # -- looking up --------------------------------------------------------------------------------

    def load_builtins(self) -> None:
        """Import every public module of the ``builtins`` package (once)."""
        if self._builtins_state != "pending":
            return
        self._builtins_state = "loading"
        try:
            package = importlib.import_module(self.builtins)
            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{self.builtins}.{info.name}")
        except BaseException:
            self._builtins_state = "pending"
            raise
        self._builtins_state = "done"

    def entry_points(self) -> dict[str, metadata.EntryPoint]:
        """Installed plugins of this kind: entry points of ``group``, by name."""
        return {ep.name: ep for ep in metadata.entry_points(group=self.group)}

    def names(self) -> list[str]:
        """Every name a lookup accepts without a ``:``: registered and entry-point names, sorted."""
        self.load_builtins()
        return sorted(set(self._entries) | set(self.entry_points()))

    def registered(self) -> dict[str, T]:
        """The registered entries (built-ins included), by name."""
        self.load_builtins()
        return dict(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __getitem__(self, name: str) -> T:
        return self.resolve(name)

    def resolve(self, name: str) -> T:
        """The entry ``name`` stands for (order in the module docstring); raises ``PluginError``."""
        if not isinstance(name, str) or not name.strip():
            raise self.error(f"a {self.kind} must be a name or 'module:attr', got {name!r}")
        self.load_builtins()
        if name in self._entries:
            return self._entries[name]
        if name in self._loaded:
            return self._loaded[name]
        if ":" in name:
            obj = load_object(name, kind=self.kind)
        elif (entry_point := self.entry_points().get(name)) is not None:
            try:
                obj = entry_point.load()
            except Exception as exc:
                raise PluginError(
                    f"entry point {name!r} ({entry_point.value}) of group {self.group!r} failed to load: {exc}"
                ) from exc
        elif self.default_attr and (is_file_spec(name) or _module_exists(name)):
            module = load_module(name, kind=self.kind)
            if not hasattr(module, self.default_attr):
                raise PluginError(
                    f"{self.kind} {name!r}: module {name} defines no {self.default_attr}; name the {self.kind} as "
                    f"'{name}:NAME' or define {self.default_attr} in it"
                )
            obj = getattr(module, self.default_attr)
        else:
            raise self.error(self.unknown_message(name))
        entry = self._adapt(obj, name) if self._adapt is not None else obj
        self._loaded[name] = entry
        return entry

    def unknown_message(self, name: str) -> str:
        """``unknown <kind> 'x' (did you mean 'y'?); known: ...`` and how to add one."""
        known = self.names()
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        register = f"register one with {self.decorator}, " if self.decorator else ""
        return (
            f"unknown {self.kind} {name!r}{hint}; known: {', '.join(known) or 'none'}. Or {register}name "
            f"one as 'pkg.module:attr' or 'path/to/file.py:attr', or install one under the entry-point "
            f"group {self.group!r}"
        )
