"""Atomic checkpoints, keep-last-N, and which checkpoint ``trainer.resume`` picks (or refuses)."""

import json

import pytest
import torch

from mmrl.checkpoints import (
    COMPLETE_MARKER,
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


def test_no_checkpoint_starts_fresh_and_never_moves_old_ones_aside(setup, tmp_path):
    manager, model, opt = setup
    assert find_resume_checkpoint(tmp_path / "nothing", "auto") is None
    manager.save(1, {"step": 1})
    moved = manager.move_aside()
    assert moved is not None and (moved / "step_1" / COMPLETE_MARKER).is_file()
    assert not list_checkpoints(manager.root)
