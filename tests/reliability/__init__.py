"""Faults and hostile input: the reliability plan (``plan.py``), one or more tests per item, each
named after the failure it guards against and marked ``@pytest.mark.reliability(N)``.

``pytest tests/reliability`` ends with which items hold. Items 10 and 11 (rollout/trainer parity, the
weight-sync canary) need the vLLM engine and live in ``tests/vllm``; item 16 (the memory pre-flight)
needs CUDA and lives in ``tests/gpu``. Modules:

* ``test_rewards``, ``test_verifiers``: hung, raising, off-thread and adversarial verifiers, reward
  hacking, steps where nothing could be scored (1-5).
* ``test_truncation``: truncated responses flagged, masked when asked, warned about (6).
* ``test_image_rows``, ``test_images``: unreadable and degenerate images, paths that leave the dataset,
  size and download bounds (7, 8).
* ``test_prompt_budget``: prompts (image tokens included) over the budget left out at load (9).
* ``test_crash_and_resume``, ``test_checkpoints``: saves killed at any point, corrupt or crafted
  checkpoints, deterministic resume, non-finite steps (12-15).
* ``test_ranks``, ``test_watchdog``: two ranks with a fault on one; stalled stages (17, 18).
* ``test_rows``, ``test_dataset_schema``, ``test_eval``: malformed rows and benchmarks (19).
* ``test_config_values``, ``test_config_checks``: configuration errors before any model loads (20).
* ``test_preflight``: the memory pre-flight's CPU-checkable parts.
"""
