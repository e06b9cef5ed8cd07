"""Atomic checkpoints, keep-last-N, and which checkpoint ``trainer.resume`` picks (or refuses)."""

import json

import pytest
import torch

from mmrl.checkpoints import (
    COMPLETE_MARKER,
    CheckpointError,
    file_sha256,
    list_checkpoints,
    verify_checkpoint,
)
from mmrl.train.checkpoint import CheckpointManager, find_resume_checkpoint


@pytest.fixture
def setup(tmp_path):
    from accelerate import Accelerator

    torch.manual_seed(0)
    acc = Accelerator(cpu=True)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model, opt = acc.prepare(model, opt)
    manager = CheckpointManager(tmp_path / "checkpoints", acc, keep_last=2)
    return manager, model, opt


def _train_a_bit(model, opt):
    loss = model(torch.ones(2, 4)).pow(2).sum()
    loss.backward()
    opt.step()
    opt.zero_grad()


def test_save_is_complete_and_keep_last_prunes_after_completion(setup):
    manager, model, opt = setup
    for step in (1, 2, 3):
        _train_a_bit(model, opt)
        path = manager.save(step, {"step": step})
        verify_checkpoint(path)
        assert json.loads((path / "trainer_state.json").read_text()) == {"step": step}
    assert [c.step for c in list_checkpoints(manager.root)] == [2, 3]
    assert not list(manager.root.glob(".tmp-*"))
    assert find_resume_checkpoint(manager.root, "auto") == manager.root / "step_3"


def test_load_restores_the_weights(setup):
    manager, model, opt = setup
    _train_a_bit(model, opt)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    path = manager.save(1, {"step": 1})
    _train_a_bit(model, opt)
    assert not torch.equal(model.weight, saved["weight"])
    assert manager.load(path) == {"step": 1}
    assert torch.equal(model.weight, saved["weight"]) and torch.equal(model.bias, saved["bias"])


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


def test_a_broken_newest_checkpoint_is_an_error_naming_it(setup):
    manager, model, opt = setup
    manager.save(1, {"step": 1})
    newest = manager.save(2, {"step": 2})
    optimizer_file = newest / "optimizer.bin"
    optimizer_file.write_bytes(optimizer_file.read_bytes()[:10])  # truncated
    with pytest.raises(CheckpointError, match=r"step_2 is broken: optimizer.bin has 10 bytes") as err:
        find_resume_checkpoint(manager.root, "auto")
    assert "step_1" in str(err.value)  # says which older one to use instead


def test_checkpoints_that_are_all_incomplete_never_start_from_scratch_silently(setup):
    manager, model, opt = setup
    manager.save(1, {"step": 1})
    (manager.root / "step_1" / COMPLETE_MARKER).unlink()
    with pytest.raises(CheckpointError, match="none is complete.*trainer.resume=never"):
        find_resume_checkpoint(manager.root, "auto")
    assert find_resume_checkpoint(manager.root, "never") is None
    with pytest.raises(CheckpointError, match="no COMPLETE marker"):
        find_resume_checkpoint(manager.root, str(manager.root / "step_1"))


def test_no_checkpoint_starts_fresh_and_never_moves_old_ones_aside(setup, tmp_path):
    manager, model, opt = setup
    assert find_resume_checkpoint(tmp_path / "nothing", "auto") is None
    manager.save(1, {"step": 1})
    moved = manager.move_aside()
    assert moved is not None and (moved / "step_1" / COMPLETE_MARKER).is_file()
    assert not list_checkpoints(manager.root)


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
