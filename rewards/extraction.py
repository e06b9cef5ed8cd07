"""Find the final answer in a response: the one place every verifier reads it from.

Rule book: ``docs/verifiers.md`` (Benchmark rules: extraction, hedging). In order:

1. **The final region.** Text after the last ``</think>``. A ``<think>`` that is never closed
   (a truncated or rambling thought) has **no answer**, and an answer that appears only inside
   ``<think>..</think>`` is not an answer. Without think tags the whole response is the region.
2. **Boxes**: every top-level ``\\boxed{..}`` (or ``\\fbox{..}``) with balanced braces, plus the
   contents of ``<answer>..</answer>`` tags that hold no box.
3. Else **answer tags** ``<answer>..</answer>``.
4. Else an **anchor**: "the answer is", "final answer:", "Answer:", "the correct option is" ...;
   the answer runs to the end of its line or sentence.
5. Else, only when the whole region is one short line (at most ``BARE_MAX_CHARS``), the region
   itself (a response that *is* the answer: ``42``, ``(B)``, ``Yes``). For choice tasks the last
   line also counts when it is a lone option letter (``**B**``). There is **never** a "last number
   in the text" fallback, so a truncated response does not score by luck.

Within the winning tier every candidate must be the same answer: ``\\boxed{3} or \\boxed{5}`` or
two different ``Answer:`` lines are *ambiguous* (scored wrong); the same answer twice is fine.
Whether two candidates are "the same" is the verifier's call (``Extraction.candidates`` keeps
them all, in order); ``Extraction.answer`` is the last one.

Everything here is linear in the response length (one pass for braces, ``str.find`` for tags),
so a 200,000-character response or 10,000 nested ``\\boxed{`` cost milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "BARE_MAX_CHARS",
    "MAX_ANSWER_CHARS",
    "THINK_CLOSE_RE",
    "THINK_OPEN_RE",
    "Extraction",
    "extract_answer",
    "final_region",
]

#: Longest response (final region) that is taken whole as the answer when nothing marks it.
BARE_MAX_CHARS = 64
#: Longest final answer; a longer "answer" is not one (and would cost time to compare).
MAX_ANSWER_CHARS = 1000

THINK_OPEN_RE = re.compile(r"<\s*think\s*>", re.IGNORECASE)
THINK_CLOSE_RE = re.compile(r"<\s*/\s*think\s*>", re.IGNORECASE)
_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_OPEN = "<answer>"
_ANSWER_CLOSE = "</answer>"
_ANCHOR_RE = re.compile(
    r"(?:\bfinal\s+answer|\bcorrect\s+(?:answer|option|choice)|\bthe\s+answer|(?<![a-z])answer)"
    r"\s*(?:\*\*|__)?\s*(?:is\s*:?|:)\s*(?:\*\*|__)?[ \t]*",
    re.IGNORECASE,
)
_SENTENCE_END_RE = re.compile(r"\.(?=\s|$)")
_LETTER_LINE_RE = re.compile(r"^[\s*_(\[]*([A-Z])[\s*_)\].:]*$")


@dataclass(frozen=True)
class Extraction:
    """What ``extract_answer`` found.

    Attributes:
        answer: The final answer text (the last candidate), or ``None``.
        candidates: Every candidate of the winning tier, in order, whitespace-collapsed and
            de-duplicated; more than one means the verifier must check they agree.
        source: ``boxed``, ``answer_tag``, ``anchor``, ``bare``, ``letter_line`` or ``none``.
        problem: Why there is no answer (``None`` when there is one).
    """

    answer: str | None
    candidates: tuple[str, ...] = ()
    source: str = "none"
    problem: str | None = None


def final_region(response: str) -> tuple[str | None, str | None]:
    """``(region, problem)``: the text after the last ``</think>``, or why there is none."""
    closes = list(THINK_CLOSE_RE.finditer(response))
    if closes:
        return response[closes[-1].end() :], None
    if THINK_OPEN_RE.search(response):
        return None, "unclosed <think>: no final answer after the thought"
    return response, None


def _brace_matches(text: str) -> dict[int, int]:
    """Position of each ``{`` -> position of its ``}`` (unescaped braces only), in one pass."""
    matches: dict[int, int] = {}
    stack: list[int] = []
    prev_backslash = False
    for i, c in enumerate(text):
        if prev_backslash:
            prev_backslash = False
            continue
        if c == "\\":
            prev_backslash = True
        elif c == "{":
            stack.append(i)
        elif c == "}" and stack:
            matches[stack.pop()] = i
    return matches


def _boxes(text: str) -> list[str]:
    """Contents of the top-level balanced ``\\boxed{..}`` in ``text``, in order."""
    if "\\boxed" not in text and "\\fbox" not in text:
        return []
    matches = _brace_matches(text)
    out: list[str] = []
    end = -1
    for m in _BOX_RE.finditer(text):
        open_pos = m.end() - 1
        if open_pos < end:
            continue  # nested in a box already taken
        close = matches.get(open_pos)
        if close is None:
            continue
        out.append(text[open_pos + 1 : close])
        end = close
    return out


def _answer_tags(text: str) -> list[str]:
    out: list[str] = []
    lower = text.lower() if "<ANSWER>" in text.upper() else ""
    if not lower:
        return out
    pos = 0
    while True:
        start = lower.find(_ANSWER_OPEN, pos)
        if start < 0:
            return out
        stop = lower.find(_ANSWER_CLOSE, start)
        if stop < 0:
            return out  # no later tag can close either
        out.append(text[start + len(_ANSWER_OPEN) : stop])
        pos = stop + len(_ANSWER_CLOSE)


def _clean(candidate: str) -> str:
    s = " ".join(candidate.split())
    s = s.strip().strip("*_").strip()
    return s


def _anchored(text: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        if "nswer" not in line and "NSWER" not in line and "option" not in line and "choice" not in line:
            continue
        ends = [m.end() for m in _ANCHOR_RE.finditer(line)]
        if not ends:
            continue
        found = line[ends[-1] :]  # "Final Answer: The final answer is $5$." -> after the last anchor
        end = _SENTENCE_END_RE.search(found)
        if end:
            found = found[: end.start()]
        found = found.strip().rstrip(",;:").strip()
        if found:
            out.append(found)
    return out


def _dedupe(items: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(_clean(item), None)
    return tuple(seen)


def extract_answer(response: str, *, truncated: bool = False, choice: bool = False) -> Extraction:
    """The final answer of a response, by the rules in the module docstring.

    >>> extract_answer("<think>2+2</think> The answer is \\\\boxed{4}.").answer
    '4'
    >>> extract_answer("\\\\boxed{3} or \\\\boxed{5}").candidates
    ('3', '5')
    >>> extract_answer("<think>so it is \\\\boxed{4}").problem
    'unclosed <think>: no final answer after the thought'
    """
    if truncated:
        return Extraction(None, problem="truncated response: no final answer")
    region, problem = final_region(response)
    if region is None:
        return Extraction(None, problem=problem)
    boxes = _boxes(region)
    tags = _answer_tags(region)
    if boxes:
        found = boxes + [t for t in tags if "\\boxed" not in t and "\\fbox" not in t]
        source = "boxed"
    elif tags:
        found, source = tags, "answer_tag"
    else:
        found, source = _anchored(region), "anchor"
        if not found:
            stripped = region.strip()
            if stripped and len(stripped) <= BARE_MAX_CHARS and "\n" not in stripped:
                found, source = [stripped], "bare"
            elif choice and stripped:
                last_line = stripped.rsplit("\n", 1)[-1]
                if _LETTER_LINE_RE.match(last_line):
                    found, source = [last_line], "letter_line"
    if not found:
        inside = "" if region is response else " (an answer inside <think> does not count)"
        return Extraction(None, problem="no final answer found" + inside)
    candidates = _dedupe(found)
    if any(len(c) > MAX_ANSWER_CHARS for c in candidates):
        return Extraction(None, candidates=(), source=source, problem="final answer too long")
    if any(not c for c in candidates):
        return Extraction(None, candidates=candidates, source=source, problem="empty final answer")
    return Extraction(candidates[-1], candidates=candidates, source=source)
