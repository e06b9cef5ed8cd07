"""Tiny offline models for tests (ours and yours).

Everything here builds in about a second with no network and is deterministic by seed:

* ``tiny_tokenizer()``: a byte-level BPE tokenizer trained on a fixed corpus, with the Qwen
  chat template and, for vision models, the Qwen-VL vision special tokens;
* ``tiny_text_model()``: a random ``Qwen2ForCausalLM`` (about 0.1M parameters) and its tokenizer;
* ``tiny_vl_model("qwen2_vl" | "qwen2_5_vl")``: a random Qwen2-VL / Qwen2.5-VL with a small vision
  tower and a working processor (image processor + tokenizer + chat template) that accepts
  messages holding PIL images through ``qwen_vl_utils.process_vision_info``;
* ``save_tiny_text_model(dir)`` / ``save_tiny_vl_model(dir, kind)``: the same, saved with
  ``save_pretrained`` so that ``AutoModelForCausalLM`` / ``AutoModelForImageTextToText`` and
  ``AutoTokenizer`` / ``AutoProcessor`` reload them;
* ``tiny_image(seed)``: a small deterministic RGB test image.

Example::

    from mmrl.testing import tiny_vl_model, tiny_image
    model, processor = tiny_vl_model("qwen2_5_vl", seed=0)
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
BASE_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

#: Qwen2/Qwen2-VL style chat template. Images are ``{"type": "image"}`` content parts; the default
#: system prompt is added when the conversation has none (as Qwen's own template does).
QWEN_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "You are a helpful assistant.",
    "Tom has 3 apples and buys 4 more. How many apples does he have now?",
    "A baker makes 12 loaves each day for 5 days and sells 38 of them. How many are left?",
    "Sara had 45 stickers, gave away 17 and then found 9. How many stickers does she have?",
    "Each box holds 6 pencils. There are 7 boxes. What is the total number of pencils?",
    "Please reason step by step, and put your final answer within \\boxed{}.",
    "<think> First compute 3 + 4 = 7. Then 7 * 2 = 14. </think> The answer is \\boxed{14}.",
    "Find x in the triangle. The angle at A is 30 degrees and the angle at B is 60 degrees.",
    "What is the value of the bar labelled 2019 in the chart? Answer: 42.5",
    "Choices: A. 12 B. 24 C. 36 D. 48. Answer with the option letter. The answer is (B).",
    "\\frac{1}{2} \\sqrt{3} \\pi 90^\\circ 0.5 1,000 25% x = 2y + 1 (1, 2) [0, 3)",
    "The final answer is 1234567890. Therefore, so, then, because, total, sum, difference, product.",
    "the a an of to in is and it that for on with as was at by be this are or from",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789 +-*/=()[]{}<>.,;:!?'\"#$%&@^_|~",
]


@functools.lru_cache(maxsize=4)
def _trained_bpe(vocab_size: int) -> str:
    """JSON of a byte-level BPE trained on the fixed corpus (cached: training is deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(BASE_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer)
    return tok.to_str()


def tiny_tokenizer(vision: bool = False, vocab_size: int = 512) -> Any:
    """A small ``PreTrainedTokenizerFast`` with the Qwen chat template (and vision tokens)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_trained_bpe(vocab_size)),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    if vision:
        tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>", *VISION_TOKENS]})
    tok.chat_template = QWEN_CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok


def _seeded(seed: int):
    import torch

    torch.manual_seed(seed)
    return torch


def _text_config_kwargs(tok: Any) -> dict[str, Any]:
    return dict(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tok.convert_tokens_to_ids("<|im_start|>"),
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )


def tiny_text_model(seed: int = 0) -> tuple[Any, Any]:
    """A random ``Qwen2ForCausalLM`` (2 layers, hidden 64) and its tiny tokenizer, in eval mode."""
    torch = _seeded(seed)
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tok = tiny_tokenizer(vision=False)
    config = Qwen2Config(
        **_text_config_kwargs(tok), rope_parameters={"rope_type": "default", "rope_theta": 10000.0}
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=config.bos_token_id
    )
    return model, tok


VLKind = Literal["qwen2_vl", "qwen2_5_vl"]


def _vl_processor(kind: VLKind, tok: Any, min_pixels: int, max_pixels: int) -> Any:
    from transformers import Qwen2_5_VLProcessor, Qwen2VLProcessor

    processor_cls = Qwen2VLProcessor if kind == "qwen2_vl" else Qwen2_5_VLProcessor
    size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    try:
        from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

        image_processor = Qwen2VLImageProcessor(size=size)
        video_processor = Qwen2VLVideoProcessor()
    except (ImportError, RuntimeError):  # no torchvision at all: PIL image processor, no video
        from transformers import Qwen2VLImageProcessorPil

        image_processor = Qwen2VLImageProcessorPil(size=size)
        video_processor = None

        class _NoVideoProcessor(processor_cls):  # type: ignore[misc, valid-type]
            def check_argument_for_proper_class(self, argument_name, argument):
                if argument is None:
                    return None
                return super().check_argument_for_proper_class(argument_name, argument)

        processor_cls = _NoVideoProcessor
    return processor_cls(
        image_processor=image_processor,
        tokenizer=tok,
        video_processor=video_processor,
        chat_template=QWEN_CHAT_TEMPLATE,
    )


def tiny_vl_model(
    kind: VLKind = "qwen2_vl", seed: int = 0, min_pixels: int = 28 * 28 * 4, max_pixels: int = 28 * 28 * 64
) -> tuple[Any, Any]:
    """A random Qwen2-VL or Qwen2.5-VL (2 text layers, 2 vision blocks) and a working processor.

    ``min_pixels``/``max_pixels`` bound the processor's own resizing (a 224x224 image becomes
    224x224 -> 64 image tokens after the 2x2 merge).
    """
    torch = _seeded(seed)
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
    )

    if kind not in ("qwen2_vl", "qwen2_5_vl"):
        raise ValueError(f"kind must be 'qwen2_vl' or 'qwen2_5_vl', got {kind!r}")
    tok = tiny_tokenizer(vision=True)
    ids = {name: tok.convert_tokens_to_ids(name) for name in VISION_TOKENS}
    text = _text_config_kwargs(tok)
    # head_dim = 64 / 4 = 16; M-RoPE sections must sum to head_dim / 2 = 8 (Qwen's 16:24:24 ratio).
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [2, 3, 3]}
    special = dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    if kind == "qwen2_vl":
        vision = dict(
            depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=14,
            spatial_merge_size=2, temporal_patch_size=2, in_channels=3,
        )  # fmt: skip
        config = Qwen2VLConfig(text_config=text, vision_config=vision, **special)
        model_cls = Qwen2VLForConditionalGeneration
    else:
        vision = dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
            spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[1], in_channels=3,
        )  # fmt: skip
        config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, **special)
        model_cls = Qwen2_5_VLForConditionalGeneration
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=text["bos_token_id"]
    )
    return model, _vl_processor(kind, tok, min_pixels, max_pixels)


def save_tiny_text_model(directory: str | Path, seed: int = 0) -> Path:
    """Save ``tiny_text_model(seed)`` with its tokenizer; reload with the ``Auto*`` classes."""
    directory = Path(directory)
    model, tok = tiny_text_model(seed)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def save_tiny_vl_model(directory: str | Path, kind: VLKind = "qwen2_vl", seed: int = 0) -> Path:
    """Save ``tiny_vl_model(kind, seed)`` with its processor; reload with the ``Auto*`` classes."""
    directory = Path(directory)
    model, processor = tiny_vl_model(kind, seed)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def tiny_image(seed: int = 0, size: tuple[int, int] = (224, 224)) -> Any:
    """A deterministic RGB image with a few coloured shapes (for processor and model tests)."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0 = rng.randrange(size[0] // 2), rng.randrange(size[1] // 2)
        x1, y1 = x0 + rng.randrange(8, size[0] // 2), y0 + rng.randrange(8, size[1] // 2)
        draw.rectangle([x0, y0, x1, y1], fill=tuple(rng.randrange(256) for _ in range(3)))
    return img


def synthetic_run(
    directory: str | Path,
    *,
    steps: int = 3,
    prompts_per_step: int = 4,
    n: int = 4,
    images: bool = True,
    validations: tuple[int, ...] = (),
    seed: int = 0,
) -> Path:
    """A training run directory as ``mmrl train`` writes it, without training: ``config.yaml``,
    ``metrics.jsonl``, ``rollouts/step_N.jsonl`` (with their images) and, for each step in
    ``validations`` (0 = before training), ``validation/step_N/``, all through the trainer's own
    writers, with random responses (``<think>`` reasoning then a ``\\boxed{}`` answer; one in ten
    truncated), verdicts, and GRPO + A-GRAE advantages.

    For tests and benchmarks of what reads runs (``mmrl view``): ``steps x prompts_per_step x n``
    rollouts in all.
    """
    from mmrl.config import config_to_yaml, load_config
    from mmrl.train.metrics import MetricsLogger

    run = Path(directory)
    run.mkdir(parents=True, exist_ok=True)
    cfg = load_config(
        None,
        [
            f"trainer.output_dir={run}",
            f"trainer.max_steps={steps}",
            f"trainer.prompts_per_step={prompts_per_step}",
            f"rollout.n={n}",
            "algorithm.name=grpo+a_grae",
            "algorithm.a_grae.alpha=0.5",
            "logging.tensorboard=false",
        ],
    )
    (run / "config.yaml").write_text(config_to_yaml(cfg))
    fake = _SyntheticRun(run, steps, n, images, seed)
    logger = MetricsLogger(run, cfg.logging, enabled=True)
    if 0 in validations:
        logger.log(0, fake.validate(0))
    for step in range(1, steps + 1):
        metrics = fake.step(step, prompts_per_step)
        if step in validations:
            metrics.update(fake.validate(step))
        logger.log(step, metrics)
    logger.close()
    return run


class _SyntheticRun:
    """The random examples, responses and verdicts behind ``synthetic_run``."""

    def __init__(self, run: Path, steps: int, n: int, images: bool, seed: int):
        import random

        self.run, self.steps, self.n, self.images = run, steps, n, images
        self.rng = random.Random(seed)
        self.held_out = [self.example("test", i) for i in range(6)]
        self.difficulty = [self.rng.random() for _ in self.held_out]

    def example(self, split: str, index: int) -> Any:
        from mmrl.types import Example

        a, b = self.rng.randrange(2, 50), self.rng.randrange(2, 50)
        meta = {"category": ("circle", "triangle", "bars")[index % 3]}
        text = f"What is {a} + {b}? Put the final answer in \\boxed{{}}."
        if not self.images:
            return Example(f"synthetic/{split}/{index}", "math", text, str(a + b), meta=meta)
        prompt = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
        image = tiny_image(index + (0 if split == "train" else 10**6), size=(64, 48))
        return Example(f"synthetic/{split}/{index}", "math", prompt, str(a + b), images=(image,), meta=meta)

    def respond(self, ex: Any, p: float) -> tuple[str, Any, str]:
        """A response right with probability ``p``: (text, score, finish reason)."""
        from mmrl.types import Score

        rng = self.rng
        right = rng.random() < p
        reasoning = "\n".join(
            f"step {i}: add the {rng.choice(('ones', 'tens'))}" for i in range(rng.randrange(1, 9))
        )
        if rng.random() < 0.1:
            return f"<think>{reasoning}", Score(0.0, False, "unparsable_pred", message="truncated"), "length"
        guess = ex.answer if right else str(int(ex.answer) + rng.choice((-2, -1, 1, 10)))
        return (
            f"<think>{reasoning}</think> \\boxed{{{guess}}}",
            Score(float(right), right, extracted=guess),
            "stop",
        )

    def validate(self, step: int) -> dict[str, float]:
        from mmrl.eval import EvalResult, ProblemRecord, SampleRecord, write_outputs
        from mmrl.train.validation import validation_images

        store = validation_images(self.run, step)
        problems = []
        for ex, p in zip(self.held_out, self.difficulty, strict=True):
            samples = []
            for _ in range(self.n):
                text, score, finish = self.respond(ex, min(1.0, p + step / max(1, self.steps)))
                samples.append(SampleRecord.from_score(text, finish, len(text) // 4 + 1, score))
            images = tuple(store.reference(img) for img in ex.images)
            problems.append(
                ProblemRecord(
                    ex.id,
                    ex.task,
                    ex.meta["category"],
                    ex.answer,
                    tuple(samples),
                    prompt=ex.prompt,
                    images=images,
                )
            )
        ks = tuple(k for k in (1, 2, 4, 8, 16) if k <= self.n)
        result = EvalResult("val", n=self.n, ks=ks, problems=problems)
        out = self.run / "validation" / f"step_{step}"
        write_outputs([result], out, {"model": {"label": f"step {step}"}, "step": step})
        return result.flat_metrics("val/")

    def step(self, step: int, prompts_per_step: int) -> dict[str, float]:
        """Write ``rollouts/step_N.jsonl``; the step's metrics."""
        import torch

        from mmrl.algos import compute_advantages_with_metrics, score_tensors
        from mmrl.train.metrics import rollout_images, rollout_records, write_rollouts
        from mmrl.types import Rollout

        rng, n = self.rng, self.n
        batch = [self.example("train", (step - 1) * prompts_per_step + i) for i in range(prompts_per_step)]
        rollouts, scores = [], []
        for ex in batch:
            p = rng.random()
            for i in range(n):
                text, score, finish = self.respond(ex, p)
                rollouts.append(Rollout(ex, i, (1,), tuple(range(len(text) // 4 + 1)), text, finish))  # type: ignore[arg-type]
                scores.append(score)
        rewards, correct = score_tensors(scores)
        group_ids = torch.arange(len(batch)).repeat_interleave(n)
        omega = float(rewards.mean())
        advantages, metrics = compute_advantages_with_metrics(
            "grpo+a_grae", rewards, group_ids, correct=correct, batch_accuracy=omega, alpha=0.5
        )
        records = rollout_records(
            rollouts, scores, rewards.tolist(), advantages.tolist(), step, images=rollout_images(self.run)
        )
        write_rollouts(self.run, step, records)
        metrics.update(
            {
                "reward/mean": omega,
                "reward/accuracy": float(correct.mean()),
                "response/length_mean": sum(len(r.response_ids) for r in rollouts) / len(rollouts),
                "response/truncated_frac": sum(r.truncated for r in rollouts) / len(rollouts),
                "actor/entropy_mean": 1.0 / step,
                "actor/approx_kl": 0.001 * step,
                "grad_norm": rng.uniform(0.5, 2.0),
                "loss": rng.uniform(-0.1, 0.1),
                "time/generate": rng.uniform(1, 2),
                "time/update": rng.uniform(0.5, 1),
                "time/step": rng.uniform(2, 3),
            }
        )
        return metrics
