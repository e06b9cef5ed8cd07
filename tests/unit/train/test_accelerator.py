"""One process can run several trainings with different ``trainer.mixed_precision``."""

from mmrl.train.trainer import _accelerator


def test_a_second_run_with_another_precision_gets_its_own_precision():
    assert _accelerator("bf16").mixed_precision == "bf16"
    assert _accelerator("no").mixed_precision == "no"
    assert _accelerator("no").mixed_precision == "no"  # same precision: the state is reused
