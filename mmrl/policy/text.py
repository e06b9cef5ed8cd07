"""The text policy: a causal LM (``AutoModelForCausalLM``) with its tokenizer and chat template."""

from __future__ import annotations

from typing import Any

from mmrl.policy.base import PolicyBase, PromptInputs
from mmrl.types import Example, Message

__all__ = ["TextPolicy", "text_messages"]


def text_messages(example: Example) -> list[Message]:
    """The example's prompt as chat messages whose contents are plain strings.

    A plain-string prompt becomes one user message; content parts are joined. Image parts are an
    error: a text-only model cannot see them.
    """
    if example.images:
        raise ValueError(
            f"example {example.id!r} has {len(example.images)} image(s) but the policy is a text-only "
            "model; use a vision-language model (model.path) or a text-only dataset"
        )
    if isinstance(example.prompt, str):
        return [{"role": "user", "content": example.prompt}]
    messages: list[Message] = []
    for i, message in enumerate(example.prompt):
        content = message.get("content")
        if isinstance(content, list):
            texts = []
            for part in content:
                if part.get("type") != "text":
                    raise ValueError(
                        f"example {example.id!r}: message {i} has a {part.get('type')!r} content part; "
                        "a text-only policy accepts only text parts"
                    )
                texts.append(part["text"])
            content = "".join(texts)
        elif not isinstance(content, str):
            raise ValueError(
                f"example {example.id!r}: message {i} content must be a string or a list of parts, "
                f"got {type(content).__name__}"
            )
        messages.append({**message, "content": content})
    return messages


class TextPolicy(PolicyBase):
    """A text-only policy.

    Prompts are rendered with the tokenizer's chat template (a generation prompt appended) and
    tokenized without adding special tokens again; a tokenizer without a chat template takes a
    plain-string prompt as it is.

    Args:
        model: a ``transformers`` causal LM (possibly wrapped by peft).
        tokenizer: its tokenizer.
        max_prompt_length: the prompt budget in tokens (``data.max_prompt_length``).
        logprob_chunk_size: rows per chunk in ``logprobs``.
    """

    def __init__(
        self, model: Any, tokenizer: Any, max_prompt_length: int = 512, logprob_chunk_size: int = 256
    ):
        super().__init__(model, tokenizer, max_prompt_length, logprob_chunk_size)

    def render(self, example: Example) -> str:
        """The prompt text the model sees (chat template applied)."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                text_messages(example), tokenize=False, add_generation_prompt=True
            )
        if isinstance(example.prompt, str) and not example.images:
            return example.prompt
        raise ValueError(
            f"example {example.id!r} has chat messages but the tokenizer has no chat template; "
            "set tokenizer.chat_template or use plain-text prompts"
        )

    def encode(self, example: Example) -> PromptInputs:
        # A chat template writes its own special tokens (BOS included where the model uses one).
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        ids = self.tokenizer(self.render(example), add_special_tokens=not has_template)["input_ids"]
        return PromptInputs(example, tuple(int(i) for i in ids))
