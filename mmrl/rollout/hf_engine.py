"""The transformers engine: ``model.generate`` on the live training model, on any device.

What it adds over a plain ``generate`` loop:

* each prompt is encoded once (``policy.prepare``/``encode``) and expanded to ``n`` samples
  inside ``generate`` (``num_return_sequences``), and several prompts share one call of up to
  ``rollout.batch_size`` sequences, sorted by length to limit padding;
* the sampling settings are exactly ``Sampling``'s: the model's own generation defaults
  (``top_k=50``, repetition penalties, ...) are set aside during the call;
* vision placeholder tokens get ``-inf`` logits, so they can never be generated;
* per-token log-probabilities of the sampled tokens under the processed distribution, recorded
  step by step (one ``[B, V]`` tensor alive, never ``[B, T, V]``);
* exact ``finish_reason`` (``stop`` on end-of-sequence or a stop string, else ``length``) and the
  response cut right after the stop token;
* a static KV cache on CUDA (``rollout.hf_cache``), the fastest transformers path measured there,
  when the model computes in its weights' dtype (not under the trainer's mixed precision).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from mmrl.policy.base import Policy, PromptInputs, unwrap_model
from mmrl.rollout.base import check_generate_args, register_engine
from mmrl.rollout.sampling import Sampling
from mmrl.types import Example, Rollout

log = logging.getLogger(__name__)

__all__ = ["HFEngine"]


class _SampledTokenLogprobs:
    """A logits processor placed last in the chain: records log p(sampled token) per step.

    At step ``t`` it sees the processed scores ``s_t`` ``[B, V]`` before sampling, and the token
    sampled at step ``t - 1`` (the last column of ``input_ids``). It keeps ``s_{t-1}`` and its
    log-sum-exp, and appends ``s_{t-1}[token] - logsumexp(s_{t-1})``. ``finish`` handles the
    last sampled token.
    """

    def __init__(self) -> None:
        self._scores: torch.Tensor | None = None
        self._lse: torch.Tensor | None = None
        self.values: list[torch.Tensor] = []

    def _record(self, tokens: torch.Tensor) -> None:
        assert self._scores is not None and self._lse is not None
        self.values.append(self._scores.gather(1, tokens.unsqueeze(1)).squeeze(1) - self._lse)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self._scores is not None:
            self._record(input_ids[:, -1])
        self._scores = scores.float()
        self._lse = torch.logsumexp(self._scores, dim=-1)
        return scores

    def finish(self, last_tokens: torch.Tensor) -> torch.Tensor:
        """``[B, steps]`` log-probabilities, given the tokens sampled at the last step."""
        if self._scores is not None:
            self._record(last_tokens)
        self._scores = self._lse = None
        return torch.stack(self.values, dim=1)


class _FinishTracker:
    """A stopping criterion that also records, per row, the step at which the row stopped.

    A row stops when its last token is an end-of-sequence id or (with stop strings) when a stop
    string has just been completed. ``first_stop[b]`` is that step (0-based, counted from the
    first generated token), or -1 for a row that ran to the length limit.
    """

    def __init__(self, prompt_width: int, eos_ids: Sequence[int], stop_criteria: Any, device: torch.device):
        self.prompt_width = prompt_width
        self.eos = torch.tensor(list(eos_ids), dtype=torch.long, device=device)
        self.stop_criteria = stop_criteria
        self.first_stop: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        step = input_ids.shape[1] - self.prompt_width - 1
        done = torch.isin(input_ids[:, -1], self.eos)
        if self.stop_criteria is not None:
            done = done | self.stop_criteria(input_ids, scores)
        if self.first_stop is None:
            self.first_stop = torch.full_like(done, -1, dtype=torch.long)
        newly = done & (self.first_stop < 0)
        self.first_stop = torch.where(newly, torch.full_like(self.first_stop, step), self.first_stop)
        return done


def _neutral_generation_config(model: Any) -> Any:
    from transformers import GenerationConfig

    current = getattr(model, "generation_config", None)
    return GenerationConfig(
        bos_token_id=getattr(current, "bos_token_id", None),
        eos_token_id=getattr(current, "eos_token_id", None),
        pad_token_id=getattr(current, "pad_token_id", None),
    )


@contextlib.contextmanager
def _generation_mode(model: Any) -> Iterator[Any]:
    """Eval mode and neutral generation defaults for the call; both restored afterwards."""
    inner = unwrap_model(model)
    was_training = model.training
    saved = getattr(inner, "generation_config", None)
    inner.generation_config = _neutral_generation_config(inner)
    model.eval()
    try:
        yield inner
    finally:
        inner.generation_config = saved
        model.train(was_training)


class HFEngine:
    """Samples with ``transformers`` ``generate`` from the policy's live model.

    Args:
        policy: the policy whose ``model`` is sampled (read at every call, so a trainer that
            wraps or replaces ``policy.model`` is followed).
        batch_size: sequences per ``generate`` call (``rollout.batch_size``).
        cache: ``"dynamic"``, ``"static"`` or ``"auto"`` (static for text models on CUDA); never
            static under mixed precision (``_use_static_cache``).
    """

    name = "hf"

    def __init__(self, policy: Policy, batch_size: int = 64, cache: str = "auto"):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        if cache not in ("auto", "dynamic", "static"):
            raise ValueError(f"cache={cache!r} must be 'auto', 'dynamic' or 'static'")
        self.policy = policy
        self.batch_size = batch_size
        self.cache = cache
        self._warned_static = False
        self._stop_criteria: dict[tuple[str, ...], Any] = {}

    # -- public ----------------------------------------------------------------------------------

    def generate(
        self, prompts: Sequence[Example | PromptInputs], n: int, sampling: Sampling
    ) -> list[Rollout]:
        check_generate_args(prompts, n)
        encoded = self.policy.as_prompts(prompts)
        results: list[list[Rollout]] = [[] for _ in encoded]
        for call_index, (indices, count, first_sample) in enumerate(self._plan(encoded, n)):
            seed = None if sampling.seed is None else sampling.seed + call_index
            rows = self._generate_call([encoded[i] for i in indices], count, sampling, seed)
            for j, i in enumerate(indices):
                for k in range(count):
                    results[i].append(self._to_rollout(encoded[i], first_sample + k, *rows[j * count + k]))
        return [r for group in results for r in group]

    def sync_weights(self, model: Any) -> float:
        """Nothing to copy: this engine samples from the training model itself."""
        if unwrap_model(model) is not unwrap_model(self.policy.model):
            raise ValueError(
                "HFEngine samples from policy.model; sync_weights got a different model. Assign it to "
                "policy.model instead"
            )
        return 0.0

    def close(self) -> None:
        self._stop_criteria.clear()

    # -- internals -------------------------------------------------------------------------------

    def _plan(self, prompts: Sequence[PromptInputs], n: int) -> list[tuple[list[int], int, int]]:
        """Calls as ``(prompt indices, samples each, first sample index)``, longest prompts first.

        With ``n <= batch_size`` a call holds ``batch_size // n`` whole prompts; otherwise one
        prompt's ``n`` samples are split over several calls of at most ``batch_size``.
        """
        order = sorted(range(len(prompts)), key=lambda i: -prompts[i].num_tokens)
        if n <= self.batch_size:
            per_call = self.batch_size // n
            return [(order[s : s + per_call], n, 0) for s in range(0, len(order), per_call)]
        calls = []
        for i in order:
            for first in range(0, n, self.batch_size):
                calls.append(([i], min(self.batch_size, n - first), first))
        return calls

    def _stop_criterion(self, stop: tuple[str, ...]) -> Any:
        if not stop:
            return None
        if stop not in self._stop_criteria:
            from transformers import StopStringCriteria

            self._stop_criteria[stop] = StopStringCriteria(
                tokenizer=self.policy.tokenizer, stop_strings=list(stop)
            )
        return self._stop_criteria[stop]

    def _use_static_cache(self, device: torch.device) -> bool:
        """Whether this call uses transformers' static KV cache.

        Not under autocast over weights of another dtype (the trainer's mixed precision): a static
        cache takes its dtype from the first keys, which rotary embeddings leave in the weights'
        float32 while the values come out of the projection in bf16, and ``generate`` then fails
        ("index_copy_(): self and source expected to have the same dtype"). The dynamic cache
        concatenates and has no such constraint.
        """
        compute = getattr(self.policy, "compute_dtype", None)
        weights = next(self.policy.model.parameters()).dtype
        mixed = compute is not None and compute != weights
        if self.cache == "static" and mixed and not self._warned_static:
            self._warned_static = True
            log.warning(
                "rollout.hf_cache=static does not work under mixed precision (%s products over %s weights); "
                "the hf engine uses the dynamic cache instead",
                str(compute).removeprefix("torch."),
                str(weights).removeprefix("torch."),
            )
        if mixed:
            return False
        if self.cache == "static":
            return True
        return self.cache == "auto" and device.type == "cuda" and self.policy.auto_static_cache

    def _generate_call(
        self, prompts: Sequence[PromptInputs], count: int, sampling: Sampling, seed: int | None
    ) -> list[tuple[list[int], list[float], str]]:
        """One ``generate`` call: ``len(prompts) * count`` rows of (response ids, logprobs, finish)."""
        from transformers import (
            GenerationConfig,
            LogitsProcessorList,
            StoppingCriteriaList,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        if sampling.greedy and count > 1:
            # Greedy samples of one prompt are identical; transformers refuses to draw several.
            single = self._generate_call(prompts, 1, sampling, seed)
            return [row for row in single for _ in range(count)]
        policy = self.policy
        model = policy.model
        device = policy.device
        inputs = {k: v.to(device) for k, v in policy.generation_inputs(prompts).items()}
        prompt_width = int(inputs["input_ids"].shape[1])
        recorder = _SampledTokenLogprobs()
        processors: list[Any] = []
        if not sampling.greedy:
            # Our own warpers, in transformers' order, so that the recorder runs after them.
            if sampling.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(sampling.temperature))
            if sampling.top_k > 0:
                processors.append(TopKLogitsWarper(sampling.top_k))
            if sampling.top_p < 1.0:
                processors.append(TopPLogitsWarper(sampling.top_p))
        processors.append(recorder)
        tracker = _FinishTracker(
            prompt_width, policy.eos_token_ids, self._stop_criterion(sampling.stop), device
        )
        banned = list(policy.banned_token_ids)
        config = GenerationConfig(
            max_new_tokens=sampling.max_new_tokens,
            do_sample=not sampling.greedy,
            num_return_sequences=count,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            eos_token_id=list(policy.eos_token_ids),
            pad_token_id=policy.pad_token_id,
            suppress_tokens=banned or None,
            use_cache=True,
            return_dict_in_generate=True,
            cache_implementation="static" if self._use_static_cache(device) else None,
        )
        rng = torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])
        # generate on the transformers model itself: a DDP wrapper has no generate (and no gradient
        # is synchronised here); FSDP2-sharded layers gather their parameters in their own hooks.
        with rng, _generation_mode(model) as inner, torch.no_grad():
            if seed is not None:
                torch.manual_seed(seed)
            out = inner.generate(
                **inputs,
                generation_config=config,
                logits_processor=LogitsProcessorList(processors),
                stopping_criteria=StoppingCriteriaList([tracker]),
            )
        sequences = out.sequences if hasattr(out, "sequences") else out
        generated = sequences[:, prompt_width:]  # [B * count, steps]
        logprobs = recorder.finish(generated[:, -1])  # [B * count, steps]
        steps = generated.shape[1]
        first_stop = (
            tracker.first_stop
            if tracker.first_stop is not None
            else torch.full((generated.shape[0],), -1, dtype=torch.long, device=generated.device)
        )
        rows = []
        for row in range(generated.shape[0]):
            stop_at = int(first_stop[row])
            if stop_at >= 0:
                length, finish = stop_at + 1, "stop"
            else:
                length, finish = steps, "length"
                if steps != sampling.max_new_tokens:
                    raise RuntimeError(
                        f"generate ended after {steps} of {sampling.max_new_tokens} steps with row {row} "
                        "unfinished; the model's generate has stopping rules mmrl does not know about"
                    )
            rows.append((generated[row, :length].tolist(), logprobs[row, :length].tolist(), finish))
        return rows

    def _to_rollout(
        self, prompt: PromptInputs, sample_index: int, ids: list[int], logprobs: list[float], finish: str
    ) -> Rollout:
        return Rollout(
            example=prompt.example,
            sample_index=sample_index,
            prompt_ids=prompt.prompt_ids,
            response_ids=tuple(ids),
            response_text=self.policy.decode(ids),
            finish_reason=finish,  # type: ignore[arg-type]
            logprobs=tuple(logprobs),
        )


@register_engine("hf")
def _build_hf_engine(rollout_cfg: Any, policy: Policy) -> HFEngine:
    return HFEngine(policy, batch_size=rollout_cfg.batch_size, cache=rollout_cfg.hf_cache)
