"""The verifier registry: a custom verifier registered each way (issue 3 item 8)."""

from __future__ import annotations

import sys
import textwrap

import pytest

from mmrl.errors import UserError
from rewards import (
    ENTRY_POINT_GROUP,
    VERIFIERS,
    UnknownVerifierError,
    get_verifier,
    list_verifiers,
    register_verifier,
    score,
)
from tests.unit.verifiers.conftest import make_example


@pytest.fixture
def clean_registry():
    with VERIFIERS.isolated():
        yield


def test_builtins_are_listed():
    assert {"math", "geometry", "chart", "chart_official", "choice", "format"} <= set(list_verifiers())


def test_decorator(clean_registry):
    @register_verifier("exact_text")
    def exact_text(response, example):
        return float(response.strip() == example.answer)

    assert get_verifier("exact_text") is exact_text
    assert "exact_text" in list_verifiers()
    assert score("yes", make_example("exact_text", "yes")).components["accuracy"] == 1.0


def test_decorator_refuses_a_second_function_under_one_name(clean_registry):
    with pytest.raises(ValueError, match="already registered"):

        @register_verifier("math")
        def other(response, example):
            return 0.0


@pytest.mark.parametrize("bad", ["", "a:b", " padded"])
def test_decorator_refuses_bad_names(bad):
    with pytest.raises(ValueError, match="verifier name"):
        register_verifier(bad)


def test_module_spec(clean_registry, tmp_path, monkeypatch):
    (tmp_path / "my_checks.py").write_text(
        "def upper(response, example):\n    return response == example.answer.upper()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fn = get_verifier("my_checks:upper")
    assert fn.__name__ == "upper"
    assert score("YES", make_example("my_checks:upper", "yes")).correct is True


def test_file_spec(clean_registry, tmp_path):
    path = tmp_path / "sub dir" / "verify_len.py"
    path.parent.mkdir()
    path.write_text("def length(response, example, minimum=3):\n    return float(len(response) >= minimum)\n")
    spec = f"{path}:length"
    assert score("abcd", make_example(spec, "x"), accuracy_weight=1.0, format_weight=0.0).reward == 1.0
    assert (
        score("abcd", make_example(spec, "x"), accuracy_weight=1.0, format_weight=0.0, minimum=10).reward
        == 0.0
    )


def test_entry_point(clean_registry, tmp_path, monkeypatch):
    package = tmp_path / "mmrl_plugin_demo.py"
    package.write_text("def always(response, example):\n    return 1.0\n")
    dist = tmp_path / "mmrl_plugin_demo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mmrl-plugin-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nalways_right = mmrl_plugin_demo:always\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "always_right" in list_verifiers()
    assert get_verifier("always_right")("x", None) == 1.0
    sys.modules.pop("mmrl_plugin_demo", None)


def test_unknown_name_lists_known_and_nearest():
    with pytest.raises(UnknownVerifierError) as info:
        get_verifier("geometri")
    message = str(info.value)
    assert "did you mean 'geometry'?" in message
    assert "math" in message and "chart" in message
    assert isinstance(info.value, UserError)  # the CLI prints it without a traceback


@pytest.mark.parametrize(
    "spec,needle",
    [
        ("no_such_module_xyz:fn", "cannot import module"),
        ("rewards.chart:no_such_fn", "has no attribute 'no_such_fn'"),
        ("rewards.chart:MAX_RELATIVE_CHANGE", "not a function"),
        ("/nonexistent/dir/file.py:fn", "verifier file not found"),
        (":fn", "must look like"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, needle):
    with pytest.raises(UserError, match=needle):
        get_verifier(spec)


def test_file_spec_error_names_nearest_function(tmp_path):
    path = tmp_path / "checks.py"
    path.write_text(textwrap.dedent("def grade(response, example):\n    return 1.0\n"))
    with pytest.raises(UserError, match="did you mean 'grade'"):
        get_verifier(f"{path}:grad")
