"""The vision-language policy: Qwen2-VL, Qwen2.5-VL and Qwen3-VL with their processors.

Images are resized once, in ``encode``, with ``qwen_vl_utils`` to a size whose sides are
multiples of ``patch_size x merge_size`` and whose area lies in ``[min_pixels, max_pixels]``;
the resized images replace the originals in the ``Example`` that the engines and the trainer
receive, and the processor is called with the same pixel bounds, so its own resize is the
identity. Every consumer therefore sees the same pixels, the same ``image_grid_thw`` and the
same number of ``<|image_pad|>`` tokens: the usual cause of "image features and image tokens do
not match" (different resizing on each side, truncated placeholders) cannot arise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mmrl.policy.base import PolicyBase, PromptInputs, unwrap_model
from mmrl.types import Example, Message, Rollout

__all__ = ["SUPPORTED_VL_MODEL_TYPES", "VisionPolicy", "resize_image", "vision_messages"]

#: ``config.model_type`` values this adapter knows how to feed.
SUPPORTED_VL_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe")

#: The ``<image>`` marker accepted in plain-string prompts.
IMAGE_MARKER = "<image>"


def _load_image(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        with Image.open(path) as img:
            img.load()
            return img.copy()
    raise TypeError(f"an image must be a PIL.Image or a path, got {type(image).__name__}")


def resize_image(image: Any, min_pixels: int, max_pixels: int, factor: int) -> Any:
    """``image`` as RGB, resized with ``qwen_vl_utils`` so that both sides are multiples of
    ``factor`` and ``min_pixels <= width * height <= max_pixels`` (aspect ratio kept as closely as
    that allows). Resizing an already resized image returns it unchanged, so calling this twice
    gives the same pixels.
    """
    from qwen_vl_utils.vision_process import smart_resize, to_rgb

    image = _load_image(image)
    if image.mode != "RGB":
        image = to_rgb(image)  # RGBA is composited on white, as qwen_vl_utils.fetch_image does
    width, height = image.size
    new_height, new_width = smart_resize(
        height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels
    )
    if min(new_height, new_width) < factor:
        # A long thin image under a small max_pixels: the short side rounds down to 0. It becomes one
        # factor wide and as long as max_pixels allows (the aspect ratio is not kept).
        longest = max(factor, max_pixels // factor // factor * factor)
        new_height, new_width = (factor, longest) if height < width else (longest, factor)
    if (new_width, new_height) == (width, height):
        return image
    # The same call as qwen_vl_utils.fetch_image (PIL's default resampling).
    return image.resize((new_width, new_height))


def vision_messages(example: Example) -> list[Message]:
    """The example's prompt as chat messages with one ``{"type": "image"}`` part per image.

    A plain-string prompt becomes one user message; ``<image>`` markers in it become image parts
    (or, with no marker, the images go first). The number of image parts must equal
    ``len(example.images)``.
    """
    if isinstance(example.prompt, str):
        text = example.prompt
        parts: list[dict[str, Any]] = []
        if IMAGE_MARKER in text:
            pieces = text.split(IMAGE_MARKER)
            for i, piece in enumerate(pieces):
                if i > 0:
                    parts.append({"type": "image"})
                if piece:
                    parts.append({"type": "text", "text": piece})
        else:
            parts = [{"type": "image"} for _ in example.images] + [{"type": "text", "text": text}]
        messages: list[Message] = [{"role": "user", "content": parts if example.images else text}]
    else:
        messages = [dict(m) for m in example.prompt]
    placeholders = sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for part in m["content"]
        if part.get("type") == "image"
    )
    if placeholders != len(example.images):
        raise ValueError(
            f"example {example.id!r} has {placeholders} image placeholder(s) in its prompt but "
            f"{len(example.images)} image(s); give one {{'type': 'image'}} part per image, in order"
        )
    return messages


class VisionPolicy(PolicyBase):
    """A Qwen-VL policy; also handles text-only examples, alone or mixed with image ones.

    Args:
        model: a Qwen2-VL / Qwen2.5-VL / Qwen3-VL ``...ForConditionalGeneration`` (possibly peft).
        processor: its ``AutoProcessor`` (tokenizer + image processor + chat template).
        min_pixels, max_pixels: the image area bounds (``data.min_pixels``, ``data.max_pixels``).
        max_prompt_length: the prompt budget in tokens, image tokens included.
        logprob_chunk_size: rows per chunk in ``logprobs``.

    Raises:
        ValueError: when the model's ``image_token_id`` / ``video_token_id`` /
            ``vision_start_token_id`` differ from the tokenizer's ids for those tokens.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        min_pixels: int = 3136,
        max_pixels: int = 1003520,
        max_prompt_length: int = 512,
        logprob_chunk_size: int = 256,
    ):
        super().__init__(model, processor.tokenizer, max_prompt_length, logprob_chunk_size)
        if min_pixels > max_pixels:
            raise ValueError(f"min_pixels={min_pixels} must be <= max_pixels={max_pixels}")
        self.processor = processor
        self.min_pixels = int(min_pixels)
        self.max_pixels = int(max_pixels)
        image_processor = processor.image_processor
        self.patch_size = int(image_processor.patch_size)
        self.merge_size = int(image_processor.merge_size)
        #: Image sides are resized to multiples of this (28 for Qwen2/2.5-VL, 32 for Qwen3-VL).
        self.factor = self.patch_size * self.merge_size
        config = unwrap_model(model).config
        self.image_token_id = self._checked_token_id(config, "image_token_id", processor.image_token)
        self.video_token_id = self._checked_token_id(
            config, "video_token_id", getattr(processor, "video_token", None)
        )
        self.vision_start_token_id = self._checked_token_id(
            config, "vision_start_token_id", "<|vision_start|>"
        )
        self.vision_end_token_id = self._checked_token_id(config, "vision_end_token_id", "<|vision_end|>")

    def _checked_token_id(self, config: Any, attr: str, token: str | None) -> int | None:
        """The model config's id for ``token``, checked against the tokenizer's."""
        model_id = getattr(config, attr, None)
        if token is None:
            return model_id
        tok_id = self.tokenizer.convert_tokens_to_ids(token)
        if tok_id is None or tok_id == self.tokenizer.unk_token_id:
            if model_id is None:
                return None
            raise ValueError(
                f"the tokenizer has no {token!r} token but the model config sets {attr}={model_id}"
            )
        if model_id is not None and int(model_id) != int(tok_id):
            raise ValueError(
                f"model config {attr}={model_id} but the tokenizer maps {token!r} to {tok_id}; the model "
                "would look for image features at the wrong tokens. Fix the checkpoint's config.json "
                f"({attr}: {tok_id}) or load the matching processor (model.tokenizer_path)"
            )
        return int(tok_id)

    @property
    def is_vision(self) -> bool:
        return True

    @property
    def banned_token_ids(self) -> tuple[int, ...]:
        """Vision special tokens: generating one breaks re-scoring (features vs tokens mismatch)."""
        ids = [self.image_token_id, self.video_token_id, self.vision_start_token_id, self.vision_end_token_id]
        vision_pad = self.tokenizer.convert_tokens_to_ids("<|vision_pad|>")
        if vision_pad is not None and vision_pad != self.tokenizer.unk_token_id:
            ids.append(vision_pad)
        return tuple(sorted({int(i) for i in ids if i is not None}))

    @property
    def processor_size(self) -> dict[str, int]:
        """The pixel bounds handed to the processor (its resize is then the identity)."""
        return {"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels}

    @property
    def processor_kwargs(self) -> dict[str, Any]:
        return {"size": self.processor_size}

    @property
    def auto_static_cache(self) -> bool:
        """No: the static cache was measured faster for text models only; ``rollout.hf_cache=static``
        still forces it."""
        return False

    def resize(self, image: Any) -> Any:
        return resize_image(image, self.min_pixels, self.max_pixels, self.factor)

    def render(self, example: Example) -> str:
        return self.processor.apply_chat_template(
            vision_messages(example), tokenize=False, add_generation_prompt=True
        )

    def encode(self, example: Example) -> PromptInputs:
        text = self.render(example)
        images = []
        for i, image in enumerate(example.images):
            try:
                images.append(self.resize(image))
            except (OSError, ValueError, TypeError) as exc:
                raise ValueError(f"example {example.id!r}: image {i} cannot be used: {exc}") from exc
        if images:
            out = self.processor(text=[text], images=images, return_tensors="pt", size=self.processor_size)
            vision = {"pixel_values": out["pixel_values"], "image_grid_thw": out["image_grid_thw"]}
            example = dataclasses.replace(example, images=tuple(images))
        else:
            out = self.processor(text=[text], return_tensors="pt")
            vision = {}
        ids = tuple(int(i) for i in out["input_ids"][0].tolist())
        return PromptInputs(example, ids, vision)

    def _image_token_count(self, prompt_ids: Sequence[int]) -> int:
        return sum(1 for i in prompt_ids if i == self.image_token_id)

    def mm_token_type_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """0 for text (and response and padding), 1 for image tokens, 2 for video tokens.

        Qwen-VL computes M-RoPE positions from this; re-scoring prompt + response with the
        prompt's own (shorter) type ids gives silently wrong positions, so it is always built for
        the full sequence here.
        """
        types = torch.zeros_like(input_ids)
        types[input_ids == self.image_token_id] = 1
        if self.video_token_id is not None:
            types[input_ids == self.video_token_id] = 2
        return types

    def _vision_batch(
        self, prompts: Sequence[PromptInputs], row_prompt: Sequence[int], input_ids: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        inputs = {"mm_token_type_ids": self.mm_token_type_ids(input_ids)}
        pixel_values = [prompts[i].vision["pixel_values"] for i in row_prompt if prompts[i].vision]
        if pixel_values:
            inputs["pixel_values"] = torch.cat(pixel_values, dim=0)
            inputs["image_grid_thw"] = torch.cat(
                [prompts[i].vision["image_grid_thw"] for i in row_prompt if prompts[i].vision], dim=0
            )
        return inputs

    def _prompt_for_rollout(self, rollout: Rollout) -> PromptInputs:
        prompt = self.encode(rollout.example)
        if prompt.prompt_ids != tuple(rollout.prompt_ids):
            raise ValueError(
                f"rollout of example {rollout.example.id!r}: its prompt ids ({len(rollout.prompt_ids)} tokens) "
                f"differ from the trainer's encoding ({prompt.num_tokens} tokens); the engine saw a "
                "different prompt or different image sizes than the trainer"
            )
        return prompt
