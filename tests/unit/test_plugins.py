"""mmrl.plugins.Registry: registration, the four ways to name an extension, built-ins, errors."""

from __future__ import annotations

import sys
import textwrap

import pytest

from mmrl.algos import ESTIMATORS, PRESETS
from mmrl.data import RECIPES
from mmrl.errors import UserError
from mmrl.plugins import PluginError, Registry, UnknownNameError, load_module, load_object
from mmrl.rollout import ENGINES
from rewards import VERIFIERS

#: The registry the built-in modules of test_builtins_are_imported_before_the_first_lookup register into.
SHARED: Registry | None = None


def colors(**kwargs) -> Registry:
    return Registry("color", group="mmrl.test_colors", **kwargs)


def red() -> str:
    return "#f00"


def test_register_resolve_and_list():
    reg = colors()
    assert reg.register("red")(red) is red  # the decorator returns the function
    reg.register("blue", lambda: "#00f")
    assert reg["red"] is red and reg.resolve("red") is red
    assert reg.names() == ["blue", "red"] and list(reg) == ["blue", "red"] and "red" in reg and "x" not in reg


def test_a_taken_name_is_refused_unless_replaced():
    reg = colors()
    reg.register("red", red)
    reg.register("red", red)  # the same function again: fine
    with pytest.raises(
        PluginError, match=r"color 'red' is already registered \(.*red\); choose another name"
    ):
        reg.register("red", lambda: "#e00")
    other = lambda: "#e00"  # noqa: E731
    reg.register("red", other, replace=True)
    assert reg["red"] is other
    with pytest.raises(PluginError, match="a color name must be a non-empty string"):
        reg.register("a:b", red)


def test_unknown_name_lists_the_known_ones_the_nearest_and_how_to_add_one():
    reg = colors(decorator="@colors.register")
    reg.register("red", red)
    with pytest.raises(UnknownNameError) as err:
        reg["rad"]
    message = str(err.value)
    assert message.startswith("unknown color 'rad' (did you mean 'red'?); known: red.")
    assert (
        "@colors.register" in message and "'pkg.module:attr'" in message and "'mmrl.test_colors'" in message
    )
    assert isinstance(err.value, UserError) and isinstance(err.value, ValueError)


def test_module_and_file_specs(tmp_path, monkeypatch):
    (tmp_path / "palette.py").write_text("def green():\n    return '#0f0'\nSHADE = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = colors()
    assert reg["palette:green"]() == "#0f0"
    assert reg[f"{tmp_path / 'palette.py'}:green"]() == "#0f0"
    with pytest.raises(
        PluginError,
        match=r"cannot import color 'palette:gren': palette has no attribute 'gren'; did you mean 'green'\?",
    ):
        reg["palette:gren"]
    with pytest.raises(PluginError, match="cannot import module 'no_such_module_xyz' for color"):
        reg["no_such_module_xyz:x"]
    with pytest.raises(PluginError, match="color file not found"):
        reg[f"{tmp_path / 'absent.py'}:x"]
    with pytest.raises(PluginError, match="must look like 'pkg.module:attr'"):
        reg[":x"]


def test_one_file_loader_for_every_kind(tmp_path):
    path = tmp_path / "both.py"
    path.write_text("VALUE = object()\n")
    first = load_module(str(path), kind="verifier")
    assert load_module(str(path), kind="data recipe") is first  # loaded once, whatever asks
    assert load_object(f"{path}:VALUE") is first.VALUE
    path.with_name("broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(RuntimeError, match="boom"):
        load_module(str(path.with_name("broken.py")))
    assert not [m for m in sys.modules if m.startswith("mmrl_user_broken_")]  # no half-loaded module left


def test_adapt_turns_what_is_loaded_into_an_entry(tmp_path, monkeypatch):
    def adapt(obj, name):
        if not callable(obj):
            raise PluginError(f"color {name!r} is not a function")
        return obj()

    (tmp_path / "shades.py").write_text("def teal():\n    return '#088'\nNOT_A_COLOR = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = colors(adapt=adapt)
    assert reg["shades:teal"] == "#088"
    with pytest.raises(PluginError, match="is not a function"):
        reg["shades:NOT_A_COLOR"]


def test_default_attr_names_a_module(tmp_path, monkeypatch):
    (tmp_path / "has_default.py").write_text("COLOR = '#abc'\n")
    (tmp_path / "no_default.py").write_text("OTHER = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = colors(default_attr="COLOR")
    assert reg["has_default"] == "#abc" and reg[str(tmp_path / "has_default.py")] == "#abc"
    with pytest.raises(PluginError, match="module no_default defines no COLOR"):
        reg["no_default"]


def test_entry_points(tmp_path, monkeypatch):
    (tmp_path / "color_plugin.py").write_text("def magenta():\n    return '#f0f'\n")
    dist = tmp_path / "color_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: color-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[mmrl.test_colors]\nmagenta = color_plugin:magenta\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = colors()
    assert "magenta" in reg.names() and reg["magenta"]() == "#f0f"
    sys.modules.pop("color_plugin", None)


def test_builtins_are_imported_before_the_first_lookup(tmp_path, monkeypatch):
    package = tmp_path / "test_builtin_colors"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_private.py").write_text("raise RuntimeError('private modules are not imported')\n")
    body = textwrap.dedent(
        """
        from tests.unit.test_plugins import SHARED
        SHARED.register({name!r}, lambda: {name!r})
        """
    )
    for name in ("orange", "purple"):
        (package / f"{name}.py").write_text(body.format(name=name))
    monkeypatch.syspath_prepend(str(tmp_path))
    global SHARED
    SHARED = colors(builtins="test_builtin_colors")
    assert "test_builtin_colors.orange" not in sys.modules  # nothing imported yet
    assert SHARED.names() == ["orange", "purple"] and SHARED["purple"]() == "purple"
    for name in ("", ".orange", ".purple"):
        sys.modules.pop(f"test_builtin_colors{name}", None)


def test_isolated_forgets_what_was_registered_inside():
    reg = colors()
    reg.register("red", red)
    with reg.isolated():
        reg.register("blue", lambda: "#00f")
        assert reg.names() == ["blue", "red"]
    assert reg.names() == ["red"]


def test_every_extension_kind_is_a_registry_with_its_entry_point_group():
    groups = {r.kind: r.group for r in (ESTIMATORS, PRESETS, ENGINES, RECIPES, VERIFIERS)}
    assert groups == {
        "advantage estimator": "mmrl.estimators",
        "algorithm preset": "mmrl.presets",
        "rollout engine": "mmrl.engines",
        "data recipe": "mmrl.recipes",
        "verifier": "mmrl.verifiers",
    }
    assert {"grpo", "grpo+a_grae", "positive_dominant"} <= set(ESTIMATORS)
    assert {"hf", "vllm"} <= set(ENGINES) and "gsm8k" in RECIPES and "math" in VERIFIERS
