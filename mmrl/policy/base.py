"""The one policy interface the trainer, the evaluator and the rollout engines talk to.

A policy owns a model and its tokenizer (or processor) and turns ``Example``s into model inputs.
Its life in one training step::

    kept, dropped = policy.prepare(examples)          # encode once; drop over-budget prompts
    rollouts = engine.generate(kept, n, sampling)     # engines read kept[i].prompt_ids / .vision
    batch = policy.collate(rollouts)                  # prompt + response tensors, vision inputs
    logprobs, entropy = policy.logprobs(batch, temperature=sampling.logprob_temperature,
                                        with_entropy=True)           # [B, T] each

``TextPolicy`` and ``VisionPolicy`` implement it; callers never branch on which one they hold.
The tensors of a ``Batch`` are laid out as ``[left-padded prompt | right-padded response]``, so
the response tokens are always the last ``T`` columns and ``logprobs`` returns ``[B, T]``
aligned with ``batch.response_mask``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from mmrl.policy.attention import full_attention_layers, use_grouped_attention
from mmrl.policy.logprobs import chunked_token_logprobs
from mmrl.types import Example, Rollout

log = logging.getLogger(__name__)

__all__ = [
    "MATH_ATTENTION_MAX_SCORES",
    "PROMPT_SHARING_MODEL_TYPES",
    "Batch",
    "DroppedExample",
    "Policy",
    "PolicyBase",
    "PromptInputs",
    "cpu_attention_backend",
]

#: ``config.model_type`` of the text decoders whose prompt ``logprobs`` may compute once per group
#: (full causal attention, a standard key/value cache, explicit ``position_ids``); each is covered
#: by an equivalence test against the full-sequence pass.
PROMPT_SHARING_MODEL_TYPES = ("llama", "qwen2", "qwen3")

#: A text forward with autograd on a CPU whose attention scores (rows x heads x queries x keys,
#: per layer) number at most this many runs PyTorch's math SDPA backend instead of its flash
#: kernel (``cpu_attention_backend``).
MATH_ATTENTION_MAX_SCORES = 1 << 22


@contextlib.contextmanager
def cpu_attention_backend(
    device: torch.device, rows: int, heads: int | None, queries: int, keys: int
) -> Iterator[str]:
    """The SDPA backend of a training forward; yields its name (``"math"`` or ``"default"``).

    On a CPU with autograd on and ``rows x heads x queries x keys <= MATH_ATTENTION_MAX_SCORES``,
    the math backend (softmax of ``q k^T / sqrt(d)`` under the mask, times ``v``, as separate
    operations; rows with no visible key give zeros): its backward is a few batched products,
    where the CPU flash kernel's backward, tiled for long sequences, spent 17 ms per layer at
    16 rows x 9 heads x 64 x 145 (measured on a 2-core AMX CPU: 16-row updates 2.8-2.9 s vs
    3.2-3.4 s). The math backend keeps the score matrices for backward (about 16 MB per layer
    at the limit in float32), which is why larger ones keep the flash kernel. Elsewhere (GPUs,
    no grad, larger scores, unknown ``heads``) the context changes nothing.
    """
    small = heads is not None and rows * heads * queries * keys <= MATH_ATTENTION_MAX_SCORES
    if device.type != "cpu" or not torch.is_grad_enabled() or not small:
        yield "default"
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.MATH]):
        yield "math"


@contextlib.contextmanager
def _text_attention_backend(inner: Any, inputs: Mapping[str, Any], is_vision: bool) -> Iterator[str]:
    """``cpu_attention_backend`` for a text forward of ``inputs``; yields ``"grouped"``,
    ``"math"`` or ``"default"``. Where it picks the math backend and the model is an SDPA decoder
    that ``grouped_attention`` covers (``mmrl.policy.attention``), the forward runs that instead:
    the same attention in float32 without SDPA's per-head key/value copies. Unchanged: vision
    policies (their vision towers attend over patches these shapes do not describe) and models
    that recompute layers in backward (activation checkpointing recomputes outside this context,
    so the recomputed attention must be the one the forward ran)."""
    ids, mask = inputs.get("input_ids"), inputs.get("attention_mask")
    if is_vision or ids is None or mask is None or ids.device.type != "cpu" or not torch.is_grad_enabled():
        yield "default"  # the cheap checks first: no module walk per GPU forward
        return
    if _recomputes_in_backward(inner):
        yield "default"
        return
    config = getattr(inner, "config", None)
    heads = getattr(config, "num_attention_heads", None)
    with cpu_attention_backend(ids.device, ids.shape[0], heads, ids.shape[1], mask.shape[-1]) as backend:
        if backend != "math":
            yield backend
            return
        with use_grouped_attention(config) as grouped:
            yield "grouped" if grouped else "math"


@dataclass(frozen=True)
class PromptInputs:
    """One example encoded for the model, exactly once.

    Attributes:
        example: The example; for vision prompts its ``images`` are the resized images that
            every engine and the trainer use.
        prompt_ids: The rendered prompt's token ids, image placeholder tokens expanded.
        vision: Per-example processor outputs for the vision tower: ``pixel_values``
            ``[patches, D]`` and ``image_grid_thw`` ``[images, 3]``; empty for text prompts.
    """

    example: Example
    prompt_ids: tuple[int, ...]
    vision: Mapping[str, torch.Tensor] = field(default_factory=dict)

    @property
    def num_tokens(self) -> int:
        return len(self.prompt_ids)


@dataclass(frozen=True)
class DroppedExample:
    """An example left out at load, and why (``reason`` is ``"over_budget"``)."""

    id: str
    reason: str
    prompt_tokens: int
    image_tokens: int
    message: str


@dataclass
class Batch:
    """Training tensors for a list of rollouts (``B`` rows, prompt width ``P``, response width ``T``).

    Attributes:
        input_ids: ``[B, P + T]`` prompt ids left-padded to ``P``, then response ids
            right-padded to ``T``.
        attention_mask: ``[B, P + T]`` 1 on real tokens.
        response_ids: ``[B, T]`` the response tokens (pad where ``response_mask`` is 0).
        response_mask: ``[B, T]`` float32, 1.0 on response tokens.
        prompt_length: ``P``.
        model_inputs: Extra forward arguments: ``position_ids`` (text), or ``pixel_values``,
            ``image_grid_thw`` and ``mm_token_type_ids`` (vision; the latter zero on response
            tokens and padding).
        rollout_logprobs: ``[B, T]`` the engines' per-token log-probabilities (0 off the mask),
            or ``None`` when any rollout lacks them.
        prompt_index: ``[B]`` which distinct prompt each row continues (``0..G-1`` in order of
            first appearance; rows of one prompt share its ids and images), or ``None``.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    prompt_length: int
    model_inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    rollout_logprobs: torch.Tensor | None = None
    prompt_index: torch.Tensor | None = None

    @property
    def num_rows(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def num_prompts(self) -> int:
        """Distinct prompts among the rows (``B`` when ``prompt_index`` is unknown)."""
        return self.num_rows if self.prompt_index is None else int(self.prompt_index.max()) + 1

    def to(self, device: torch.device | str) -> Batch:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return dataclasses.replace(
            self,
            input_ids=move(self.input_ids),
            attention_mask=move(self.attention_mask),
            response_ids=move(self.response_ids),
            response_mask=move(self.response_mask),
            model_inputs={k: move(v) for k, v in self.model_inputs.items()},
            rollout_logprobs=move(self.rollout_logprobs),
            prompt_index=move(self.prompt_index),
        )


@runtime_checkable
class Policy(Protocol):
    """What engines and the trainer need from a policy adapter (text or vision)."""

    model: Any
    tokenizer: Any
    max_prompt_length: int

    @property
    def is_vision(self) -> bool: ...

    @property
    def processor_kwargs(self) -> dict[str, Any]: ...  # what an engine's own image processor must be given

    @property
    def auto_static_cache(self) -> bool: ...  # whether rollout.hf_cache=auto may pick the static cache

    @property
    def eos_token_ids(self) -> tuple[int, ...]: ...

    @property
    def pad_token_id(self) -> int: ...

    @property
    def banned_token_ids(self) -> tuple[int, ...]: ...

    def render(self, example: Example) -> str: ...  # the prompt text the model sees

    def encode(self, example: Example) -> PromptInputs: ...

    def prepare(self, examples: Sequence[Example]) -> tuple[list[PromptInputs], list[DroppedExample]]: ...

    def generation_inputs(self, prompts: Sequence[PromptInputs]) -> dict[str, torch.Tensor]: ...

    def engine_request(self, prompt: PromptInputs) -> dict[str, Any]: ...

    def collate(self, rollouts: Sequence[Rollout]) -> Batch: ...

    def logprobs(
        self, batch: Batch, *, temperature: float = 1.0, with_entropy: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]: ...

    def decode(self, token_ids: Sequence[int]) -> str: ...


def left_pad(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids [B, max_len], mask [B, max_len])`` with each row right-aligned."""
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
    return ids, mask


def right_pad(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids [B, max_len], mask [B, max_len])`` with each row left-aligned."""
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
    return ids, mask


def _cache_argument(model: Any) -> str:
    """The name of the key/value cache argument of ``model.forward``: ``cache`` in transformers
    5.20 and later, ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(type(model).forward).parameters else "past_key_values"


def _activation_checkpointing(model: Any) -> bool:
    """Whether transformers' gradient (activation) checkpointing is on for ``model``."""
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):  # new name first
        if hasattr(type(model), name):
            return bool(getattr(model, name))
    return False


def _recomputes_in_backward(model: Any) -> bool:
    """Whether backward reruns parts of ``model``'s forward: transformers' activation
    checkpointing, or a layer under torch's ``checkpoint_wrapper`` (FSDP's activation checkpointing)."""
    if _activation_checkpointing(model):
        return True
    try:
        from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointWrapper
    except ImportError:  # a torch build without torch.distributed has no such wrapper
        return False
    return any(isinstance(m, CheckpointWrapper) for m in model.modules())


def _without_ddp(model: Any) -> Any:
    """The module under a ``DistributedDataParallel`` wrapper (peft and other wrappers kept)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def unwrap_model(model: Any) -> Any:
    """The transformers model under a peft / DDP / compile wrapper (for attributes, not forward)."""
    seen = 0
    while seen < 8:
        seen += 1
        if hasattr(model, "get_base_model") and callable(model.get_base_model):  # peft
            model = model.get_base_model()
        elif hasattr(model, "module") and isinstance(model.module, torch.nn.Module):  # DDP, FSDP1
            model = model.module
        elif hasattr(model, "_orig_mod"):  # torch.compile
            model = model._orig_mod
        else:
            break
    return model


def collapse_placeholders(prompt_ids: Sequence[int], placeholder: int | None) -> list[int]:
    """``prompt_ids`` with each run of ``placeholder`` tokens collapsed to one token.

    >>> collapse_placeholders([1, 9, 9, 9, 2, 9, 9, 3], 9)
    [1, 9, 2, 9, 3]
    >>> collapse_placeholders([1, 9, 9], None)
    [1, 9, 9]
    """
    if placeholder is None:
        return [int(t) for t in prompt_ids]
    out: list[int] = []
    for token in prompt_ids:
        if token == placeholder and out and out[-1] == placeholder:
            continue
        out.append(int(token))
    return out


class PolicyBase:
    """Shared machinery of ``TextPolicy`` and ``VisionPolicy``.

    Subclasses implement ``encode`` (render + tokenize one example) and ``_vision_inputs``
    (per-row vision tensors for a batch); everything else (budget filtering, padding, collation,
    chunked log-probabilities) is here once.
    """

    #: Rows of hidden states projected to the vocabulary at once in ``logprobs``.
    logprob_chunk_size: int = 256

    def __init__(self, model: Any, tokenizer: Any, max_prompt_length: int, logprob_chunk_size: int = 256):
        if tokenizer.pad_token_id is None and tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer defines neither a pad nor an eos token; set tokenizer.pad_token")
        if max_prompt_length < 1:
            raise ValueError(f"max_prompt_length must be >= 1, got {max_prompt_length}")
        self.model = model
        self.tokenizer = tokenizer
        self.max_prompt_length = max_prompt_length
        self.logprob_chunk_size = logprob_chunk_size
        #: Compute each distinct prompt of a batch once in ``logprobs`` where the model allows it
        #: (``shares_prompts``); exact, so only equivalence tests turn it off.
        self.share_prompts = True
        #: The dtype forward and backward compute in when it differs from the weights' (the autocast
        #: dtype; the trainer sets it). Engines that keep their own copy of the weights use it.
        self.compute_dtype: torch.dtype | None = None
        #: Total examples dropped by ``prepare`` over the policy's life (the trainer logs it).
        self.num_dropped = 0
        #: Where the weights were loaded from (``load_policy`` sets it; the vLLM engine reads it).
        self.source_path: str | None = None
        #: Whether the checkpoint's own code may run (``model.trust_remote_code``).
        self.trust_remote_code = False

    # -- identity ------------------------------------------------------------------------------

    @property
    def is_vision(self) -> bool:
        return False

    @property
    def processor_kwargs(self) -> dict[str, Any]:
        """Keyword arguments an engine's own multimodal processor must be given so that it sees the
        pixels the trainer sees (vLLM's ``mm_processor_kwargs``); none for a text model."""
        return {}

    @property
    def auto_static_cache(self) -> bool:
        """Whether ``rollout.hf_cache=auto`` may pick transformers' static KV cache on CUDA for this
        policy (text: yes; that is where it was measured faster)."""
        return True

    @property
    def eos_token_ids(self) -> tuple[int, ...]:
        """Token ids that end a response: the tokenizer's eos and the generation config's."""
        ids: list[int] = []
        gen = getattr(unwrap_model(self.model), "generation_config", None)
        gen_eos = getattr(gen, "eos_token_id", None) if gen is not None else None
        for value in (self.tokenizer.eos_token_id, gen_eos):
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if v is not None and int(v) not in ids:
                    ids.append(int(v))
        if not ids:
            raise ValueError("neither the tokenizer nor the generation config defines an eos token")
        return tuple(ids)

    @property
    def pad_token_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else self.eos_token_ids[0])

    @property
    def banned_token_ids(self) -> tuple[int, ...]:
        """Tokens no engine may sample (the vision placeholders of a VLM; none for text)."""
        return ()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def decode(self, token_ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=True)

    # -- encoding ------------------------------------------------------------------------------

    def encode(self, example: Example) -> PromptInputs:
        raise NotImplementedError

    def _image_token_count(self, prompt_ids: Sequence[int]) -> int:
        return 0

    def prepare(self, examples: Sequence[Example]) -> tuple[list[PromptInputs], list[DroppedExample]]:
        """Encode each example once and drop those whose prompt exceeds ``max_prompt_length``.

        The budget counts every prompt token, image placeholder tokens included; a prompt is
        never truncated (cutting through image tokens breaks the model, and cutting text changes
        the question). Each drop is logged as a warning naming the example id; the count is
        returned and added to ``self.num_dropped``.
        """
        kept: list[PromptInputs] = []
        dropped: list[DroppedExample] = []
        for example in examples:
            prompt = self.encode(example)
            if prompt.num_tokens > self.max_prompt_length:
                image_tokens = self._image_token_count(prompt.prompt_ids)
                message = (
                    f"dropped example {example.id!r}: its prompt has {prompt.num_tokens} tokens "
                    f"({image_tokens} of them image tokens), over data.max_prompt_length="
                    f"{self.max_prompt_length}; raise data.max_prompt_length"
                    + (" or lower data.max_pixels" if image_tokens else "")
                )
                log.warning(message)
                dropped.append(
                    DroppedExample(example.id, "over_budget", prompt.num_tokens, image_tokens, message)
                )
            else:
                kept.append(prompt)
        if dropped:
            self.num_dropped += len(dropped)
            log.warning(
                "dropped %d of %d examples over the prompt budget (%d dropped so far)",
                len(dropped),
                len(examples),
                self.num_dropped,
            )
        return kept, dropped

    def as_prompts(self, items: Sequence[Example | PromptInputs]) -> list[PromptInputs]:
        """Encode the ``Example``s among ``items``; ``PromptInputs`` pass through unchanged."""
        return [item if isinstance(item, PromptInputs) else self.encode(item) for item in items]

    def engine_request(self, prompt: PromptInputs) -> dict[str, Any]:
        """One prompt for an engine that takes token ids and raw images and expands the image
        placeholders itself (vLLM): ``{"prompt_token_ids": [...]}``, and for a prompt with images
        each run of placeholder tokens collapsed to one, plus ``{"multi_modal_data": {"image": [...]}}``
        (the engine's expanded ids are then checked against ``prompt.prompt_ids``)."""
        request: dict[str, Any] = {"prompt_token_ids": [int(t) for t in prompt.prompt_ids]}
        if prompt.example.images:
            placeholder = getattr(self, "image_token_id", None)
            request["prompt_token_ids"] = collapse_placeholders(prompt.prompt_ids, placeholder)
            request["multi_modal_data"] = {"image": list(prompt.example.images)}
        return request

    # -- batching ------------------------------------------------------------------------------

    def _vision_batch(
        self, prompts: Sequence[PromptInputs], row_prompt: Sequence[int], input_ids: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Vision tensors for rows ``row_prompt`` (indices into ``prompts``); none for text."""
        return {}

    def generation_inputs(self, prompts: Sequence[PromptInputs]) -> dict[str, torch.Tensor]:
        """Left-padded model inputs for ``generate``: ``input_ids``, ``attention_mask`` (+ vision)."""
        input_ids, attention_mask = left_pad([p.prompt_ids for p in prompts], self.pad_token_id)
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        inputs.update(self._vision_batch(prompts, range(len(prompts)), input_ids))
        return inputs

    def collate(self, rollouts: Sequence[Rollout]) -> Batch:
        """Stack rollouts into a ``Batch`` (prompt ids from the rollouts, vision inputs re-derived).

        Vision inputs are recomputed from each rollout's example (whose images were resized once
        by ``encode``), and the recomputed prompt ids must equal the rollout's: an engine that
        saw a different prompt than the trainer is an error, not a silent mismatch.
        """
        if not rollouts:
            raise ValueError("collate needs at least one rollout")
        prompts: list[PromptInputs] = []
        index: dict[tuple[int, tuple[int, ...]], int] = {}
        row_prompt: list[int] = []
        for r in rollouts:
            key = (id(r.example), tuple(r.prompt_ids))
            if key not in index:
                index[key] = len(prompts)
                prompts.append(self._prompt_for_rollout(r))
            row_prompt.append(index[key])
        pad = self.pad_token_id
        prompt_ids, prompt_mask = left_pad([r.prompt_ids for r in rollouts], pad)
        response_ids, response_mask = right_pad([r.response_ids for r in rollouts], pad)
        input_ids = torch.cat([prompt_ids, response_ids], dim=1)
        attention_mask = torch.cat([prompt_mask, response_mask], dim=1)
        model_inputs = self._vision_batch(prompts, row_prompt, input_ids)
        if not self.is_vision:
            model_inputs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        rollout_logprobs = None
        if all(r.logprobs is not None for r in rollouts):
            rollout_logprobs = torch.zeros(response_ids.shape, dtype=torch.float32)
            for i, r in enumerate(rollouts):
                if len(r.logprobs) != len(r.response_ids):
                    raise ValueError(
                        f"rollout {i} (example {r.example.id!r}) has {len(r.logprobs)} logprobs for "
                        f"{len(r.response_ids)} response tokens"
                    )
                rollout_logprobs[i, : len(r.logprobs)] = torch.tensor(r.logprobs, dtype=torch.float32)
        return Batch(
            input_ids=input_ids,
            attention_mask=attention_mask,
            response_ids=response_ids,
            response_mask=response_mask.to(torch.float32),
            prompt_length=int(prompt_ids.shape[1]),
            model_inputs=model_inputs,
            rollout_logprobs=rollout_logprobs,
            prompt_index=torch.tensor(row_prompt, dtype=torch.long),
        )

    def _prompt_for_rollout(self, rollout: Rollout) -> PromptInputs:
        """The rollout's prompt as ``PromptInputs``; text needs no re-encoding."""
        return PromptInputs(rollout.example, rollout.prompt_ids)

    # -- scoring -------------------------------------------------------------------------------

    def _softcap(self) -> float | None:
        config = unwrap_model(self.model).config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        return getattr(text_config, "final_logit_softcapping", None)

    def _forward_final_hidden(self, model: Any, **inputs: Any) -> tuple[torch.Tensor, Any]:
        """``model(**inputs)``'s decoder output after its final norm, ``[B, L, H]``, and the outputs.

        The hidden states are captured by a forward hook on that norm, so the other layers' hidden
        states are not kept (``output_hidden_states=True`` would hold all of them until the forward
        returns, which without autograd is memory nothing else needs); models without a
        ``get_decoder().norm`` fall back to ``output_hidden_states``. Only the last position's
        logits are computed (``logits_to_keep=1``).
        """
        inner = unwrap_model(self.model)
        decoder = inner.get_decoder() if hasattr(inner, "get_decoder") else None
        norm = getattr(decoder, "norm", None)
        with _text_attention_backend(inner, inputs, self.is_vision):
            if isinstance(norm, torch.nn.Module):
                captured: list[torch.Tensor] = []
                handle = norm.register_forward_hook(lambda _module, _args, output: captured.append(output))
                try:
                    outputs = model(**inputs, logits_to_keep=1)
                finally:
                    handle.remove()
                if len(captured) == 1:
                    return captured[0], outputs
            outputs = model(**inputs, logits_to_keep=1, output_hidden_states=True)
        return outputs.hidden_states[-1], outputs

    def _response_hidden_states(self, batch: Batch) -> torch.Tensor:
        """The final hidden states that predict the response tokens, ``[B, T, H]``.

        Entry ``[b, t]`` is row ``b``'s decoder output (after the final norm) at the position
        before response token ``t``. When rows share a prompt and the model allows it
        (``shares_prompts``), each distinct prompt is run once and its rows attend to its cached
        keys and values (``_shared_prompt_hidden_states``); otherwise every row runs its whole
        sequence.
        """
        if batch.num_prompts < batch.num_rows and self.shares_prompts:
            return self._shared_prompt_hidden_states(batch)
        P, T = batch.prompt_length, batch.response_ids.shape[1]
        hidden, _ = self._forward_final_hidden(
            self.model,
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            **batch.model_inputs,
            use_cache=False,
        )  # [B, P + T, H]
        # The output at position i predicts token i + 1: response token t sits at P + t.
        return hidden[:, P - 1 : P + T - 1]

    @property
    def shares_prompts(self) -> bool:
        """Whether ``logprobs`` computes each distinct prompt of a batch once.

        Needs ``share_prompts`` (on by default) and a model that computes the same thing from a
        cached prompt as from the whole sequence: a text decoder of ``PROMPT_SHARING_MODEL_TYPES``
        with full causal attention in every layer, without activation checkpointing (transformers
        turns the cache off under its own; a layer under torch's ``checkpoint_wrapper`` would
        append its keys and values to the cache again when backward recomputes it). Vision
        policies run whole sequences (Qwen-VL's rotary positions are derived from the image grid
        of the full sequence).
        """
        if not self.share_prompts or self.is_vision:
            return False
        inner = unwrap_model(self.model)
        config = getattr(inner, "config", None)
        if config is None or _recomputes_in_backward(inner):
            return False
        if getattr(config, "model_type", None) not in PROMPT_SHARING_MODEL_TYPES:
            return False
        return full_attention_layers(config)

    def _shared_prompt_hidden_states(self, batch: Batch) -> torch.Tensor:
        """``_response_hidden_states`` with each distinct prompt computed once.

        Pass 1 runs the ``G`` distinct prompts ``[G, P]`` with a key/value cache; the cache is
        indexed to the ``B`` rows (``prompt_index``), and pass 2 runs only the response tokens
        ``[B, T]`` against it at positions ``prompt tokens + t``: the attention and positions of
        the full-sequence pass. Gradients reach the prompt through the cached keys and values,
        summed over the rows that share it, so the result equals the full-sequence pass (up to
        float rounding) for ``G x P + B x T`` token positions instead of ``B x (P + T)``. Pass 1
        runs on the module under a DDP wrapper (each parameter's gradient hook still fires once,
        in the backward through both passes).
        """
        assert batch.prompt_index is not None
        P, T = batch.prompt_length, batch.response_ids.shape[1]
        index = batch.prompt_index  # [B]
        rows = torch.arange(index.numel(), device=index.device)
        first = torch.full((batch.num_prompts,), index.numel(), dtype=torch.long, device=index.device)
        first = first.scatter_reduce(0, index, rows, reduce="amin")  # [G] the first row of each prompt
        prompt_mask = batch.attention_mask[first, :P]  # [G, P]
        prompt_hidden, prompt_out = self._forward_final_hidden(
            _without_ddp(self.model),
            input_ids=batch.input_ids[first, :P],
            attention_mask=prompt_mask,
            position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0),
            use_cache=True,
        )  # [G, P, H]
        cache = getattr(prompt_out, "cache", None) or prompt_out.past_key_values
        cache.batch_select_indices(index)  # [G, ...] -> [B, ...], differentiable indexing
        positions = prompt_mask.sum(-1)[index][:, None] + torch.arange(T, device=index.device)  # [B, T]
        response_hidden, _ = self._forward_final_hidden(
            self.model,
            input_ids=batch.response_ids,
            attention_mask=batch.attention_mask,
            position_ids=positions,
            use_cache=True,
            **{_cache_argument(unwrap_model(self.model)): cache},
        )  # [B, T, H]
        # Response token 0 is predicted by the prompt's last position, token t by response position t - 1.
        return torch.cat([prompt_hidden[index, -1:], response_hidden[:, :-1]], dim=1)

    def logprobs(
        self, batch: Batch, *, temperature: float = 1.0, with_entropy: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-token log-probabilities of the response tokens, ``[B, T]`` (0 off the mask).

        ``logprob[b, t] = log softmax(z / temperature)[response_ids[b, t]]`` where ``z`` are the
        model's logits at the position before that token, with ``banned_token_ids`` (the vision
        placeholders) excluded: the distribution the engines sample from. The forward pass returns only the
        last position's logits (``logits_to_keep=1``) plus the final hidden states; the response
        positions' hidden states are projected through the output head in chunks of
        ``logprob_chunk_size`` rows (``chunked_token_logprobs``, its products in ``compute_dtype``
        when the trainer set one, as the body computes under autocast), so float32 logits exist
        for at most one chunk at a time. With ``with_entropy`` also returns the per-token entropy of the
        same distribution (0 off the mask). Gradients flow when autograd is enabled.
        """
        batch = batch.to(self.device)
        response_hidden = self._response_hidden_states(batch)  # [B, T, H], after the final norm
        mask = batch.response_mask > 0
        head = unwrap_model(self.model).get_output_embeddings()
        selected, selected_entropy = chunked_token_logprobs(
            response_hidden[mask],
            batch.response_ids[mask],
            head,
            chunk_size=self.logprob_chunk_size,
            temperature=temperature,
            softcap=self._softcap(),
            banned_token_ids=self.banned_token_ids,
            with_entropy=with_entropy,
            compute_dtype=self.compute_dtype,
        )
        logprobs = torch.zeros(mask.shape, dtype=torch.float32, device=response_hidden.device)
        logprobs = logprobs.masked_scatter(mask, selected)
        entropy = None
        if with_entropy:
            entropy = torch.zeros(mask.shape, dtype=torch.float32, device=response_hidden.device)
            entropy = entropy.masked_scatter(mask, selected_entropy)
        return logprobs, entropy
