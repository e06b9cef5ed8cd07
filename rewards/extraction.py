"""Find the final answer in a response: the one place every verifier reads it from.

The rules (``docs/verifiers.md`` "Where the answer is read from"), in order:

1. **The final region.** Text after the last ``</think>``. A ``<think>`` that is never closed
   (a truncated or rambling thought) has **no answer**, and an answer that appears only inside
   ``<think>..</think>`` is not an answer. Without think tags the whole response is the region.
2. **Boxes**: every top-level ``\\boxed{..}`` (or ``\\fbox{..}``) with balanced braces, plus the
   contents of ``<answer>..</answer>`` tags that hold no box. When a "final answer" anchor comes
   after the first box, the boxes before it are intermediate results: the final answer is the
   boxes after the anchor, or else the anchored text (``\\boxed{12} is one half ... Final Answer:
   24`` is 24, when that text has a digit, ``$`` or ``\\`` or is at most 3 characters;
   Math-Verify also ranks "final answer" above boxes).
3. Else **answer tags** ``<answer>..</answer>``.
4. Else an **anchor**: "the answer is", "final answer:", "Answer:", "the correct option is" ...;
   the answer runs to the end of its line or sentence. An anchor that ends its line takes the
   display block below it (``\\[ .. \\]``, ``$$ .. $$``) or the next non-empty line. A sentence
   with one "is" and no digit before it keeps what follows (``Final Answer: The largest $n$ is
   34`` is 34).
5. Else, only when the whole region is one short line (at most ``BARE_MAX_CHARS``), the region
   itself (a response that *is* the answer: ``42``, ``(B)``, ``Yes``). For choice tasks the last
   line also counts when it is a lone option letter (``**B**``); several lone-letter lines at the
   end (``A``, ``B``, ``C`` one per line) are several candidates, a hedge. There is **never** a
   "last number in the text" fallback, so a truncated response does not score by luck.

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
_FINAL_RE = re.compile(r"\bfinal\s+answer\b", re.IGNORECASE)
_COPULA_RE = re.compile(r"\s+is\s+")
_MATHY_RE = re.compile(r"[\d$\\]")  # an anchored answer that outranks earlier boxes looks like math
_MAX_BLOCK_LINES = 12
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


def _boxes(text: str) -> list[tuple[int, str]]:
    """``(start, content)`` of the top-level balanced ``\\boxed{..}`` in ``text``, in order."""
    if "\\boxed" not in text and "\\fbox" not in text:
        return []
    matches = _brace_matches(text)
    out: list[tuple[int, str]] = []
    end = -1
    for m in _BOX_RE.finditer(text):
        open_pos = m.end() - 1
        if open_pos < end:
            continue  # nested in a box already taken
        close = matches.get(open_pos)
        if close is None:
            continue
        out.append((m.start(), text[open_pos + 1 : close]))
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


def _display_block(lines: list[str], start: int) -> str | None:
    """The math on the lines after an anchor that ends its line: ``\\[ .. \\]``, ``$$ .. $$`` or the
    next non-empty line (at most ``_MAX_BLOCK_LINES`` lines are read)."""
    rest = [ln.strip() for ln in lines[start : start + _MAX_BLOCK_LINES]]
    while rest and not rest[0]:
        rest.pop(0)
    if not rest:
        return None
    for left, right in (("\\[", "\\]"), ("$$", "$$")):
        if rest[0].startswith(left):
            body = " ".join(rest)
            close = body.find(right, len(left))
            return body[: close + len(right)] if close >= 0 else None
    return rest[0]


def _after_copula(found: str) -> str:
    """``The largest $n$ is 34`` -> ``34``: a sentence with one ``is`` and no digit before it."""
    parts = _COPULA_RE.split(found)
    if len(parts) == 2 and parts[1].strip() and not any(c.isdigit() for c in parts[0]):
        return parts[1].strip()
    return found


def _anchored(text: str) -> list[str]:
    out: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "nswer" not in line and "NSWER" not in line and "option" not in line and "choice" not in line:
            continue
        ends = [m.end() for m in _ANCHOR_RE.finditer(line)]
        if not ends:
            continue
        found = line[ends[-1] :]  # "Final Answer: The final answer is $5$." -> after the last anchor
        if not found.strip().strip("*_$").strip() or found.strip() in ("\\[", "$$"):
            block = (
                _display_block(lines, i + 1)
                if not found.strip()
                else _display_block([found, *lines[i + 1 :]], 0)
            )
            if block is None:
                continue
            found = block
        end = _SENTENCE_END_RE.search(found)
        if end:
            found = found[: end.start()]
        found = _after_copula(found.strip().rstrip(",;:").strip())
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
    scope = region
    found_anchor: list[str] | None = None
    boxes = _boxes(region)
    finals = list(_FINAL_RE.finditer(region)) if boxes else []
    final = finals[-1] if finals else None
    if final is not None and boxes[0][0] < final.start():
        # "... \boxed{12} is one part ... Final Answer: 24": the boxes before the last "final
        # answer" are intermediate results; the final answer is what follows it.
        later = [b for b in boxes if b[0] >= final.start()]
        anchored = [a for a in _anchored(region[final.start() :]) if _MATHY_RE.search(a) or len(a) <= 3]
        if later or anchored:
            boxes = later
            scope = region[final.start() :]
            if not later:
                found_anchor = anchored
    tags = _answer_tags(scope)
    if boxes:
        found = [b for _, b in boxes] + [t for t in tags if "\\boxed" not in t and "\\fbox" not in t]
        source = "boxed"
    elif tags:
        found, source = tags, "answer_tag"
    else:
        found, source = (found_anchor if found_anchor is not None else _anchored(scope)), "anchor"
        if not found:
            stripped = scope.strip()
            if stripped and len(stripped) <= BARE_MAX_CHARS and "\n" not in stripped:
                found, source = [stripped], "bare"
            elif choice and stripped:
                # The lone-letter lines that end the response: one is the answer; "A\nB\nC" is
                # a hedge (several candidates, scored wrong by the verifier).
                letters = []
                for line in reversed(stripped.splitlines()[-_MAX_BLOCK_LINES:]):
                    if not line.strip():
                        continue
                    if not _LETTER_LINE_RE.match(line):
                        break
                    letters.append(line)
                if letters:
                    found, source = letters[::-1], "letter_line"
    if not found:
        inside = "" if region is response else " (an answer inside <think> does not count)"
        return Extraction(None, problem="no final answer found" + inside)
    candidates = _dedupe(found)
    if any(len(c) > MAX_ANSWER_CHARS for c in candidates):
        return Extraction(None, candidates=(), source=source, problem="final answer too long")
    if any(not c for c in candidates):
        return Extraction(None, candidates=candidates, source=source, problem="empty final answer")
    return Extraction(candidates[-1], candidates=candidates, source=source)
