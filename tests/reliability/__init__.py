"""Faults and hostile input, one test per failure, each named after what it guards against.

``pytest tests/reliability`` is the count of what holds. Modules:

* ``test_rows``: malformed dataset rows (``"images": 5``, a recipe that crashes) are bad rows with
  their index, never a bare ``TypeError``.
* ``test_config_values``: NaN or infinity in any float field fails at config load, naming it.
* ``test_rewards``: a step in which no response could be scored warns instead of training on nothing.
* ``test_checkpoints``: corruption of any checkpoint file (same size included) is found on resume and
  named with the way forward; no pickle in a checkpoint directory can run code on resume.
* ``test_images``: image paths cannot leave the dataset (absolute, ``..``, ``~``, symlinks) nor tell
  whether a file outside exists; sizes are bounded before reading; downloads go to public addresses
  only, bounded in bytes and time.
* ``test_prompt_budget``: over-budget prompts are left out once, before training, on every rank alike.
* ``test_truncation``: many truncated responses warn with the fix; ``algorithm.mask_truncated`` leaves
  them out of the loss (zero gradient).
* ``test_eval``: problems left out of an evaluation show in ``report.md``; ``--strict`` fails instead.
* ``test_watchdog``: a stage that never returns is warned about, then ends the run with an error.

Hung, crashing and adversarial verifiers, degenerate images, deterministic resume, saves killed
mid-write and non-finite steps are tested where those parts live (``tests/unit/verifiers``,
``tests/unit/data``, ``tests/integration/train/test_resume.py``).
"""
