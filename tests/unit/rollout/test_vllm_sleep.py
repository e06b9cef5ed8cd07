"""The vLLM engine's sleep/wake bookkeeping, with a stand-in for ``vllm.LLM`` (sleep mode is
GPU-only in vLLM, so the real calls run only on a GPU)."""

from mmrl.policy.base import collapse_placeholders
from mmrl.rollout.vllm_engine import VllmEngine


class _FakeLLM:
    def __init__(self):
        self.calls = []

    def sleep(self, level):
        self.calls.append(("sleep", level))

    def wake_up(self, tags):
        self.calls.append(("wake_up", tuple(tags)))


def _engine(sleep_mode: bool) -> VllmEngine:
    engine = object.__new__(VllmEngine)  # no vLLM needed for the bookkeeping
    engine.llm = _FakeLLM()
    engine.enable_sleep_mode = sleep_mode
    engine._asleep = set()
    return engine


def test_sleep_after_generate_wake_weights_for_the_push_then_kv_for_generation():
    engine = _engine(sleep_mode=True)
    engine.sleep()  # end of generate
    engine.sleep()  # already asleep: no second call
    engine._wake(("weights",))  # sync_weights
    engine._wake()  # next generate: only the KV cache is still asleep
    engine._wake()
    assert engine.llm.calls == [("sleep", 1), ("wake_up", ("weights",)), ("wake_up", ("kv_cache",))]


def test_without_sleep_mode_nothing_is_called():
    engine = _engine(sleep_mode=False)
    engine.sleep()
    engine._wake()
    assert engine.llm.calls == []


def test_image_placeholder_runs_collapse_to_one_token_each():
    # 9 = <|image_pad|>; two images separated by text, plus text tokens that are not placeholders
    ids = [1, 8, 9, 9, 9, 7, 2, 8, 9, 9, 7, 3]
    assert collapse_placeholders(ids, 9) == [1, 8, 9, 7, 2, 8, 9, 7, 3]
    assert collapse_placeholders(ids, None) == ids
