"""Checkpoints you can trust: corruption is found on resume and named with the way forward, and
nothing in a checkpoint directory can run code when a run resumes from it."""

from __future__ import annotations

import json
import logging
import random

import pytest
import torch

from mmrl.checkpoints import (
    COMPLETE_MARKER,
    CheckpointError,
    file_sha256,
    list_checkpoints,
    verify_checkpoint,
)
from mmrl.train.checkpoint import find_resume_checkpoint

from .kill_during_save import build


class CodeOnLoad:
    """A pickle that creates ``marker`` when it is unpickled: what a crafted checkpoint file holds."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _setup(root):
    return build(root, keep_last=3, features=(4, 3))


@pytest.fixture
def run(tmp_path):
    manager, model, opt, sched = _setup(tmp_path / "checkpoints")
    for step in (1, 2):
        model(torch.ones(2, 4)).pow(2).sum().backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        manager.save(step, {"step": step})
    return manager, model, opt, sched


def _rewrite_manifest(path):
    """What a forger does after editing a file: update its size and hash in the manifest."""
    manifest = json.loads((path / "manifest.json").read_text())
    for p in path.rglob("*"):
        name = str(p.relative_to(path))
        if p.is_file() and name not in ("manifest.json", "COMPLETE"):
            manifest["files"][name] = {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
    (path / "manifest.json").write_text(json.dumps(manifest))


def _flip_a_byte(file, offset=None):
    data = bytearray(file.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0xFF
    file.write_bytes(bytes(data))


@pytest.mark.reliability(13)
def test_manifest_holds_the_sha256_of_every_file(run):
    manager, *_ = run
    path = manager.root / "step_2"
    files = json.loads((path / "manifest.json").read_text())["files"]
    assert {
        "model.safetensors",
        "optimizer.bin",
        "scheduler.json",
        "rng_state_0.json",
        "trainer_state.json",
    } <= set(files)
    for name, entry in files.items():
        assert entry == {"bytes": (path / name).stat().st_size, "sha256": file_sha256(path / name)}
    assert not list(path.glob("*.pkl")), "no pickle is written"


@pytest.mark.reliability(13)
def test_same_size_corruption_of_the_weights_is_refused_on_resume_naming_the_file(run):
    manager, *_ = run
    weights = manager.root / "step_2" / "model.safetensors"
    size = weights.stat().st_size
    _flip_a_byte(weights)
    assert weights.stat().st_size == size
    verify_checkpoint(weights.parent)  # the size check alone cannot see it
    with pytest.raises(
        CheckpointError, match=r"step_2 is broken: the contents of model.safetensors changed"
    ) as e:
        find_resume_checkpoint(manager.root, "auto")
    assert "step_1" in str(e.value)  # the way forward: the older checkpoint
    with pytest.raises(CheckpointError, match=r"model.safetensors changed.*trainer.resume=never"):
        find_resume_checkpoint(manager.root, str(weights.parent))
    with pytest.raises(CheckpointError, match=r"contents of model.safetensors changed"):
        manager.load(weights.parent)


@pytest.mark.reliability(13)
def test_garbage_rng_state_is_refused_on_resume_naming_the_file(run):
    manager, *_ = run
    path = manager.root / "step_2"
    rng = path / "rng_state_0.json"
    rng.write_bytes(b"x" * rng.stat().st_size)
    with pytest.raises(CheckpointError, match=r"the contents of rng_state_0.json changed"):
        find_resume_checkpoint(manager.root, "auto")
    _rewrite_manifest(path)  # the hash now agrees: the state itself must still be refused, loudly
    with pytest.raises(CheckpointError, match=r"rng_state_0.json \(the RNG states\) is unreadable"):
        manager.load(path)


@pytest.mark.reliability(13)
def test_resume_restores_scheduler_and_rng_from_json(run):
    manager, model, opt, sched = run
    path = manager.root / "step_2"
    draws = (random.random(), float(torch.rand(1)))
    sched.step()
    assert sched.last_epoch == 3
    assert manager.load(path) == {"step": 2}
    assert sched.last_epoch == 2
    assert (random.random(), float(torch.rand(1))) == draws


@pytest.mark.reliability(13)
def test_crafted_scheduler_pickle_never_runs_code_on_resume(run, tmp_path, caplog):
    manager, *_ = run
    path = manager.root / "step_2"
    marker = tmp_path / "code-ran"
    torch.save(CodeOnLoad(marker), path / "custom_checkpoint_0.pkl")
    torch.load(path / "custom_checkpoint_0.pkl", weights_only=False)  # the pickle is live ...
    assert marker.exists()
    marker.unlink()
    _rewrite_manifest(path)
    # ... with the schedule in scheduler.json it is ignored, and said so
    with caplog.at_level(logging.WARNING):
        path_found = find_resume_checkpoint(manager.root, str(path))
        assert manager.load(path_found, verified=True) == {"step": 2}
    assert not marker.exists()
    assert "ignoring custom_checkpoint_0.pkl" in caplog.text
    # ... and where it stands for the schedule (an older checkpoint's layout) the resume fails clearly
    (path / "scheduler.json").unlink()
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["files"]["scheduler.json"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        CheckpointError, match=r"custom_checkpoint_0.pkl .* is not plain data.*never unpickles"
    ):
        manager.load(path)
    assert not marker.exists()


@pytest.mark.reliability(13)
def test_crafted_rng_pickle_never_runs_code_on_resume(run, tmp_path):
    manager, *_ = run
    path = manager.root / "step_2"
    marker = tmp_path / "code-ran"
    (path / "rng_state_0.json").unlink()
    torch.save(CodeOnLoad(marker), path / "random_states_0.pkl")
    _rewrite_manifest(path)
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["files"]["rng_state_0.json"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"random_states_0.pkl .* is not plain data"):
        manager.load(path)
    assert not marker.exists()


@pytest.mark.reliability(13)
def test_a_pickle_dropped_into_a_checkpoint_outside_its_manifest_is_never_read(run, tmp_path):
    manager, *_ = run
    path = manager.root / "step_2"
    marker = tmp_path / "code-ran"
    for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl", "custom_checkpoint_1.pkl"):
        torch.save(CodeOnLoad(marker), path / name)
    assert manager.load(path) == {"step": 2}
    assert not marker.exists()


@pytest.mark.reliability(13)
def test_a_manifest_pointing_outside_the_checkpoint_is_refused(run, tmp_path):
    manager, *_ = run
    path = manager.root / "step_2"
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["../../secret.txt"] = {"bytes": 1, "sha256": file_sha256(outside)}
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"a path outside the checkpoint"):
        manager.load(path)


@pytest.mark.reliability(13)
def test_a_checkpoint_of_an_earlier_mmrl_still_resumes(tmp_path):
    """Earlier checkpoints: the scheduler registered with accelerate (custom_checkpoint_0.pkl),
    accelerate's RNG pickle, a manifest of sizes. Their pickles are plain data and still load."""
    manager, model, opt, sched = _setup(tmp_path / "checkpoints")
    acc = manager.accelerator
    opt.step()
    sched.step()
    path = manager.root / "step_1"
    path.mkdir(parents=True)
    acc.register_for_checkpointing(sched)
    try:
        acc.save_state(str(path))
    finally:
        acc._custom_objects.clear()
    draw = float(torch.rand(1))
    (path / "trainer_state.json").write_text('{"step": 1}')
    sizes = {p.name: p.stat().st_size for p in path.iterdir()}
    (path / "manifest.json").write_text(json.dumps({"files": sizes}))
    (path / "COMPLETE").write_text("")
    assert {"custom_checkpoint_0.pkl", "random_states_0.pkl"} <= set(sizes)
    opt.step()
    sched.step()
    torch.rand(1)
    assert manager.load(find_resume_checkpoint(manager.root, "auto")) == {"step": 1}
    assert sched.last_epoch == 1 and float(torch.rand(1)) == draw


@pytest.mark.reliability(13)
def test_resuming_a_run_from_a_crafted_checkpoint_directory_never_runs_code(tmp_path, caplog):
    import shutil

    from mmrl.testing import save_tiny_text_model
    from mmrl.train import fit
    from tests.integration.train.helpers import tiny_text_config

    model_dir = save_tiny_text_model(tmp_path / "model")
    fit(tiny_text_config(model_dir, tmp_path / "run", "trainer.max_steps=2", "trainer.save_every=2"))
    foreign = tmp_path / "downloaded" / "step_2"
    shutil.copytree(tmp_path / "run" / "checkpoints" / "step_2", foreign)
    marker = tmp_path / "code-ran"
    torch.save(CodeOnLoad(marker), foreign / "custom_checkpoint_0.pkl")
    torch.save(CodeOnLoad(marker), foreign / "random_states_0.pkl")
    _rewrite_manifest(foreign)

    def resume(out):
        return fit(
            tiny_text_config(
                model_dir, out, "trainer.max_steps=3", f"trainer.resume={foreign}", "trainer.save_final=false"
            )
        )

    with caplog.at_level(logging.WARNING):
        assert resume(tmp_path / "resumed").steps == 3
    assert "ignoring custom_checkpoint_0.pkl" in caplog.text
    assert not marker.exists()
    (foreign / "scheduler.json").unlink()
    (foreign / "rng_state_0.json").unlink()
    manifest = json.loads((foreign / "manifest.json").read_text())
    for name in ("scheduler.json", "rng_state_0.json"):
        del manifest["files"][name]
    (foreign / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"custom_checkpoint_0.pkl .* is not plain data"):
        resume(tmp_path / "resumed-again")
    assert not marker.exists()


@pytest.mark.reliability(13)
def test_a_sharded_checkpoint_from_outside_the_run_is_refused(run, tmp_path):
    import shutil

    manager, *_ = run
    foreign = tmp_path / "elsewhere" / "step_2"
    shutil.copytree(manager.root / "step_2", foreign)
    (foreign / "pytorch_model_fsdp_0").mkdir()
    (foreign / "pytorch_model_fsdp_0" / "__0_0.distcp").write_bytes(b"shard")
    _rewrite_manifest(foreign)
    with pytest.raises(CheckpointError, match=r"sharded \(FSDP\) checkpoint from outside this run"):
        find_resume_checkpoint(manager.root, str(foreign))
    shutil.move(foreign, manager.root / "step_3")
    assert find_resume_checkpoint(manager.root, str(manager.root / "step_3")) == manager.root / "step_3"


# -- moved: which checkpoint resume picks, and what it refuses (12, 13) --------------------------


@pytest.fixture
def setup(tmp_path):
    manager, model, opt, _ = _setup(tmp_path / "checkpoints")
    return manager, model, opt


@pytest.mark.reliability(12)
def test_a_save_killed_before_its_marker_is_skipped(setup, caplog):
    manager, model, opt = setup
    manager.save(1, {"step": 1})
    manager.save(2, {"step": 2})
    (manager.root / "step_2" / COMPLETE_MARKER).unlink()  # killed between rename and marker
    (manager.root / ".tmp-step_3").mkdir()  # killed while writing the next one
    assert find_resume_checkpoint(manager.root, "auto") == manager.root / "step_1"
    assert "skipping checkpoint" in caplog.text and "step_2" in caplog.text
    # the next complete save clears the debris
    manager.save(3, {"step": 3})
    assert [c.step for c in list_checkpoints(manager.root)] == [1, 3]
    assert not (manager.root / ".tmp-step_3").exists()


@pytest.mark.reliability(13)
def test_a_broken_newest_checkpoint_is_an_error_naming_it(setup):
    manager, model, opt = setup
    manager.save(1, {"step": 1})
    newest = manager.save(2, {"step": 2})
    optimizer_file = newest / "optimizer.bin"
    optimizer_file.write_bytes(optimizer_file.read_bytes()[:10])  # truncated
    with pytest.raises(CheckpointError, match=r"step_2 is broken: optimizer.bin has 10 bytes") as err:
        find_resume_checkpoint(manager.root, "auto")
    assert "step_1" in str(err.value)  # says which older one to use instead


@pytest.mark.reliability(13)
def test_checkpoints_that_are_all_incomplete_never_start_from_scratch_silently(setup):
    manager, model, opt = setup
    manager.save(1, {"step": 1})
    (manager.root / "step_1" / COMPLETE_MARKER).unlink()
    with pytest.raises(CheckpointError, match="none is complete.*trainer.resume=never"):
        find_resume_checkpoint(manager.root, "auto")
    assert find_resume_checkpoint(manager.root, "never") is None
    with pytest.raises(CheckpointError, match="no COMPLETE marker"):
        find_resume_checkpoint(manager.root, str(manager.root / "step_1"))


@pytest.mark.reliability(13)
def test_a_corrupt_file_that_keeps_its_size_fails_at_load_with_the_name(setup):
    manager, model, opt = setup
    path = manager.save(1, {"step": 1})
    state = path / "trainer_state.json"
    state.write_text("{" * state.stat().st_size)  # the same size: only the content hash sees it
    with pytest.raises(CheckpointError, match=r"the contents of trainer_state.json changed"):
        manager.load(path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["trainer_state.json"]["sha256"] = file_sha256(state)  # a manifest that agrees
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"step_1 could not be loaded: JSONDecodeError"):
        manager.load(path)


# -- a run resumed from a broken checkpoint (13) ------------------------------------------------


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    from mmrl.testing import save_tiny_text_model

    return save_tiny_text_model(tmp_path_factory.mktemp("tiny-text"))


def _cfg(text_dir, run, *overrides):
    from tests.integration.train.helpers import tiny_text_config

    return tiny_text_config(text_dir, run, "trainer.max_steps=4", "trainer.save_every=2", *overrides)


@pytest.mark.reliability(13)
def test_a_broken_newest_checkpoint_is_reported_by_name(text_dir, tmp_path, capsys):
    from mmrl.cli import main
    from mmrl.config import save_config
    from mmrl.train import fit
    from tests.integration.train.helpers import read_metrics

    run = tmp_path / "run"
    fit(_cfg(text_dir, run, "trainer.save_final=false"))
    weights = run / "checkpoints" / "step_4" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="step_4 is broken: model.safetensors"):
        fit(_cfg(text_dir, run, "trainer.max_steps=6"))
    # the command line says the same, exit code 1, and nothing was trained or deleted
    config = save_config(_cfg(text_dir, run, "trainer.max_steps=6"), tmp_path / "config.yaml")
    assert main(["train", str(config)]) == 1
    err = capsys.readouterr().err
    assert "step_4 is broken" in err and "step_2" in err
    assert [m["step"] for m in read_metrics(run)] == [1, 2, 3, 4]
    assert [c.step for c in list_checkpoints(run / "checkpoints")] == [2, 4]


@pytest.mark.reliability(13)
@pytest.mark.parametrize(
    "lost", ["trainer_state.json", "optimizer.bin", "scheduler.json", "rng_state_0.json"]
)
def test_a_deleted_state_file_is_named_and_nothing_starts_from_scratch(run, lost):
    manager, model, opt, sched = run
    newest = manager.root / "step_2"
    (newest / lost).unlink()  # the data position, optimizer moments, schedule or RNG states
    with pytest.raises(CheckpointError, match=rf"step_2 is broken: {lost} is missing") as err:
        find_resume_checkpoint(manager.root, "auto")
    assert "step_1" in str(err.value)  # the way forward: the older complete checkpoint
    with pytest.raises(CheckpointError, match=rf"{lost} is missing"):
        manager.load(newest)
    assert [c.step for c in list_checkpoints(manager.root)] == [1, 2]  # nothing moved or deleted


# -- saving is one pass: the large files are hashed as they are written -------------------------


@pytest.mark.reliability(13)
def test_weights_and_optimizer_are_hashed_while_written_not_read_back(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    import mmrl.checkpoints as checkpoints

    manager, model, opt, _ = _setup(tmp_path / "checkpoints")
    model(torch.ones(2, 4)).pow(2).sum().backward()
    opt.step()
    read_back = []
    real = checkpoints.file_sha256
    monkeypatch.setattr(checkpoints, "file_sha256", lambda p: read_back.append(p.name) or real(p))
    path = manager.save(1, {"step": 1})
    assert "model.safetensors" not in read_back and "optimizer.bin" not in read_back, read_back
    monkeypatch.undo()
    files = json.loads((path / "manifest.json").read_text())["files"]
    for name in ("model.safetensors", "optimizer.bin"):
        assert files[name]["sha256"] == file_sha256(path / name)  # what was hashed is what is on disk
    verify_checkpoint(path, contents=True)
    weights = load_file(str(path / "model.safetensors"))  # any safetensors reader loads it
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    saved_opt = torch.load(path / "optimizer.bin", weights_only=True)
    assert torch.equal(saved_opt["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_safetensors_written_one_tensor_at_a_time_match_the_library(tmp_path):
    from safetensors.torch import load_file, save_file

    from mmrl.train.hashed_save import write_safetensors

    tensors = {
        "b": torch.arange(6, dtype=torch.bfloat16).reshape(2, 3),
        "a": torch.randn(5, dtype=torch.float32),
        "c": torch.tensor([True, False]),
        "d": torch.zeros(0, 4, dtype=torch.int64),
        "e": torch.tensor(3, dtype=torch.int8),
    }
    digest = write_safetensors(tensors, tmp_path / "mine.safetensors", {"format": "pt"})
    assert digest == file_sha256(tmp_path / "mine.safetensors")
    mine = load_file(str(tmp_path / "mine.safetensors"))
    save_file(tensors, str(tmp_path / "library.safetensors"), metadata={"format": "pt"})
    library = load_file(str(tmp_path / "library.safetensors"))
    assert mine.keys() == library.keys() == tensors.keys()
    for k, v in tensors.items():
        assert mine[k].dtype == v.dtype and torch.equal(mine[k], v) and torch.equal(library[k], v)
