"""The reliability plan: twenty failures a run must survive, each guarded by tests marked
``@pytest.mark.reliability(N)``. They live in ``tests/reliability``, except where they need what
that folder cannot give: the vLLM engine (``tests/vllm``, a pytest process of its own, run on CPU
by ``make test``) or CUDA (``tests/gpu``, skipped without it).

Every pytest run that ran marked tests ends with which items hold, fail or were not run
(``tests/conftest.py``): ``pytest tests/reliability`` for the CPU items, ``pytest tests/vllm`` for
items 10 and 11.
"""

from __future__ import annotations

from typing import NamedTuple


class Item(NamedTuple):
    title: str
    expectation: str
    #: The tests folder that holds this item's tests.
    where: str = "reliability"


PLAN: dict[int, Item] = {
    1: Item(
        "hanging verifier",
        "each call is killed at its timeout and scored as unscorable; the step ends; the pool keeps "
        "its workers and leaks no process",
    ),
    2: Item(
        "verifier raises (BaseException included)",
        "caught per sample and counted; above the error threshold the step fails loudly; never a "
        "silent all-zero reward",
    ),
    3: Item(
        "verifier off the main thread or in an event loop",
        "the same scores as on the main thread, no 'signal only works in main thread'",
    ),
    4: Item(
        "huge or adversarial completions",
        "a 200k-character response without a closing tag and 10k nested boxes score without a timeout",
    ),
    5: Item(
        "reward-hacking probes",
        "empty answers, hedges, two different boxes and an answer only inside the reasoning score 0; a "
        "template that prefills the reasoning tag still gets its format reward",
    ),
    6: Item(
        "truncated completions",
        "flagged, masked from the loss when asked, counted; a WARNING above a tenth",
    ),
    7: Item(
        "unreadable image rows",
        "0-byte, truncated, non-image and missing files are reported at load with row index and path, "
        "skipped and counted; too many, or any in an evaluation set, fail loudly",
    ),
    8: Item(
        "degenerate images",
        "decompression bombs, tiny, extreme aspect ratios, CMYK/RGBA/16-bit: resized or converted "
        "into the pixel bounds, or skipped with a reason",
    ),
    9: Item(
        "image tokens over the prompt budget",
        "the row is left out at load and counted, never truncated through its image tokens",
    ),
    10: Item(
        "rollout/trainer parity",
        "the engine's and the trainer's prompt ids and log-probs agree, text and images; an image the "
        "engine resized differently is an error",
        where="vllm",
    ),
    11: Item(
        "weight-sync canary",
        "a perturbed language-model or vision-tower layer moves the engine's log-probs away from the "
        "trainer's, and a sync brings them back; a second sync changes nothing",
        where="vllm",
    ),
    12: Item(
        "kill -9 during a checkpoint save",
        "the previous checkpoint stays loadable and resume takes the newest complete one",
    ),
    13: Item(
        "corrupt checkpoint",
        "resume fails loudly naming the file (or the checkpoint); never starts from scratch silently",
    ),
    14: Item("deterministic resume", "k steps + kill + resume equals 2k steps straight"),
    15: Item(
        "NaN/Inf injection",
        "the optimizer step is skipped and counted, K in a row abort; zero-variance groups, all-masked "
        "responses and an impossible micro-batch give no NaN or a config error",
    ),
    16: Item(
        "worst-case memory pre-flight",
        "one forward/backward at the worst-case micro-batch before step 1; an out-of-memory there names "
        "the settings that fix it",
        where="gpu",
    ),
    17: Item(
        "rank-divergent bad sample (2 ranks)",
        "ranks agree on every skip and neither hangs; a stalled rank ends every rank with an error "
        "naming the stage, the rank and the collective",
    ),
    18: Item(
        "stalled rollout",
        "a generate that never returns is warned about with the pending ids, then ends the run",
    ),
    19: Item(
        "dataset schema validation",
        "missing or null answers, empty prompts, image/placeholder mismatches, duplicate ids and "
        "unparseable gold answers are rejected at load with row indices",
    ),
    20: Item(
        "config validation before the model loads",
        "divisibility, lengths, memory shares, unimportable or unpicklable reward functions and non-finite "
        "values are errors before any weight is read",
    ),
}
