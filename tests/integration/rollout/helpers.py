"""Shared builders for the policy and engine tests: examples, a tiny Qwen3-VL, a pad-loving head."""

from __future__ import annotations

from typing import Any

import torch

from mmrl.testing import QWEN_CHAT_TEMPLATE, VISION_TOKENS, tiny_image, tiny_tokenizer
from mmrl.types import Example

#: Pixel bounds used with the tiny Qwen2/2.5-VL processors (4..64 merged patches of 28 x 28).
MIN_PIXELS, MAX_PIXELS = 28 * 28 * 4, 28 * 28 * 64


def text_examples(k: int = 3) -> list[Example]:
    return [
        Example(id=f"t{i}", task="math", prompt=f"What is {i} + {i + 1}?", answer=str(2 * i + 1))
        for i in range(k)
    ]


def vision_examples() -> list[Example]:
    """A mixed batch: one image (odd size), text only, two images through ``<image>`` markers."""
    return [
        Example(
            id="v0",
            task="chart",
            prompt=[
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is shown?"}]}
            ],
            answer="1",
            images=(tiny_image(0, (300, 200)),),
        ),
        Example(id="v1", task="math", prompt="What is 2 + 3?", answer="5"),
        Example(
            id="v2",
            task="geometry",
            prompt="<image> and <image>: which is larger?",
            answer="A",
            images=(tiny_image(1), tiny_image(2, (100, 400))),
        ),
    ]


def tiny_qwen3_vl(seed: int = 0) -> tuple[Any, Any]:
    """A random Qwen3-VL (2 text layers with 2 heads of 32, 2 vision blocks, patch 16) + processor."""
    from transformers import (
        GenerationConfig,
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    tok = tiny_tokenizer(vision=True)
    ids = {name: tok.convert_tokens_to_ids(name) for name in VISION_TOKENS}
    text = dict(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=32, max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [4, 6, 6], "mrope_interleaved": True},
        bos_token_id=tok.convert_tokens_to_ids("<|im_start|>"), eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    vision = dict(
        depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=16,
        spatial_merge_size=2, temporal_patch_size=2, in_channels=3, num_position_embeddings=64,
        deepstack_visual_indexes=[1],
    )  # fmt: skip
    config = Qwen3VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    image_processor = Qwen2VLImageProcessor(
        patch_size=16, merge_size=2, size={"shortest_edge": 32 * 32 * 4, "longest_edge": 32 * 32 * 64}
    )
    processor = Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        video_processor=Qwen3VLVideoProcessor(),
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    return model, processor


def bias_towards_vision_pads(
    model: Any, image_token_id: int, video_token_id: int, scale: float = 200.0
) -> None:
    """Make the LM head prefer a vision placeholder at every position.

    The image-pad row becomes ``scale * u`` and the video-pad row ``-scale * u`` for a random
    unit vector ``u``: for any hidden state ``h``, one of ``+-scale * h.u`` is >= 0 and, at this
    scale, far above the other logits. (With tied embeddings the input embeddings of these two
    tokens change too, which is harmless: image placeholders are replaced by image features and
    video placeholders never occur.)
    """
    head = model.get_output_embeddings().weight
    generator = torch.Generator().manual_seed(0)
    u = torch.randn(head.shape[1], generator=generator)
    u = u / u.norm()
    with torch.no_grad():
        head[image_token_id] = scale * u
        head[video_token_id] = -scale * u
