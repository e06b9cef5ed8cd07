"""The site on disk: pages rendered from the package's templates, its images, and listings.

A **listing** is a sequence of groups (a step's prompts, a benchmark's problems, two evaluations'
problems side by side) written as static pages of at most ``SAMPLES_PER_PAGE`` samples, readable
without JavaScript, with two small data files beside them for the filters:

* ``index.js`` sets ``window.MMRL_INDEX``: the page of each group and, per sample, the element id
  and a code for each facet (verdict, status, advantage sign, ...). Every page of the listing
  loads it, so a filter counts matches on every page and links to them.
* ``search.js`` sets ``window.MMRL_TEXT``: the lower-cased text of each group (id, prompt, gold
  answer) and sample (response, extracted answer); it is loaded only when a search is typed.

Both are scripts rather than JSON so that the site also works from ``file://``, where a page may
not fetch other files.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from mmrl import __version__
from mmrl.view.render import fmt, mark_answer, prompt_messages, split_reasoning
from mmrl.view.sources import VERDICTS, Group, ImageRef, Sample

__all__ = ["SAMPLES_PER_PAGE", "Listing", "Site", "group_view", "slug"]

#: Samples per static page of a listing (a group is never split across pages).
SAMPLES_PER_PAGE = 200

#: The file that marks a directory as a site built by ``mmrl view`` (so a rebuild may replace it).
MARKER = ".mmrl-view"

#: Facet values in the order the filters list them; other values follow, sorted.
_ORDER = {
    "verdict": VERDICTS,
    "advantage": ("pos", "zero", "neg", "nan"),
    "length": ("complete", "truncated"),
    "status": ("ok", "unparsable_pred", "unparsable_gold", "timeout", "error"),
    "change": ("better", "worse", "same", "only in A", "only in B"),
}
_CONTENT_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z]+$")


def slug(text: str) -> str:
    """A file-name-safe form of ``text``: spaces become ``-``; other characters outside
    ``[A-Za-z0-9._-]`` become ``_`` and add a short digest of ``text`` (so names stay distinct).

    >>> slug("synthetic_arithmetic"), slug("validation step 2"), slug("level 1/2")[:10]
    ('synthetic_arithmetic', 'validation-step-2', 'level-1_2-')
    """
    spaced = re.sub(r"\s+", "-", text.strip())
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", spaced).strip("._") or "_"
    if safe != spaced:
        safe += "-" + hashlib.sha256(text.encode()).hexdigest()[:6]
    return safe


class Site:
    """Writes pages, assets and images under ``root``; every link is relative, so the folder can be
    opened from disk, served, or copied elsewhere."""

    def __init__(self, root: Path, sources: Sequence[str]):
        self.root = root
        self.sources = list(sources)
        self.built = time.strftime("%Y-%m-%d %H:%M")
        self.pages_written = 0
        self._images: dict[Path, str] = {}
        self.env = Environment(
            loader=PackageLoader("mmrl.view", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def prepare(self) -> None:
        """Create the folder (refusing a non-empty one that is not a site) and copy the assets."""
        if self.root.exists() and any(self.root.iterdir()) and not (self.root / MARKER).exists():
            from mmrl.errors import UserError

            raise UserError(
                f"{self.root} exists and is not a site written by mmrl view; give --output a new or empty "
                "directory"
            )
        (self.root / "assets").mkdir(parents=True, exist_ok=True)
        (self.root / MARKER).write_text(f"mmrl {__version__}\n")
        static = resources.files("mmrl.view") / "static"
        for name in ("view.css", "view.js"):
            (self.root / "assets" / name).write_text(
                (static / name).read_text(encoding="utf-8"), encoding="utf-8"
            )

    def write(self, path: str, template: str, **context: Any) -> None:
        """Render ``template`` to the site path ``path`` (links in it are made relative to it)."""
        here = posixpath.dirname(path) or "."

        def url(target: str) -> str:
            anchor = ""
            if "#" in target:
                target, anchor = target.split("#", 1)
                anchor = "#" + anchor
            return (posixpath.relpath(target, here) if target else "") + anchor

        html = self.env.get_template(template).render(
            url=url, version=__version__, built=self.built, sources=self.sources, **context
        )
        self.write_text(path, html)
        self.pages_written += 1

    def write_text(self, path: str, text: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)

    def image(self, ref: ImageRef) -> str | None:
        """The site path of an image file (hard-linked, or copied, into ``images/`` once)."""
        if ref.path is None:
            return None
        if ref.path in self._images:
            return self._images[ref.path]
        name = ref.path.name
        if not _CONTENT_NAME.match(name):  # not from an image store: name it by its content
            name = hashlib.sha256(ref.path.read_bytes()).hexdigest()[:32] + ref.path.suffix.lower()
        target = self.root / "images" / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(ref.path, target)
            except OSError:  # another file system, or no hard links: copy
                shutil.copyfile(ref.path, target)
        self._images[ref.path] = f"images/{name}"
        return self._images[ref.path]


# -- what a template gets for a group -----------------------------------------------------------


def _sample_view(sample: Sample, key: str) -> dict[str, Any]:
    reasoning, rest = split_reasoning(sample.response)
    return {
        "id": f"{key}s{sample.index}",
        "index": sample.index,
        "verdict": sample.verdict,
        "status": sample.status,
        "reward": fmt(sample.reward),
        "advantage": fmt(sample.advantage),
        "advantage_sign": sample.advantage_sign or "none",
        "tokens": sample.tokens,
        "truncated": sample.truncated,
        "extracted": "" if sample.extracted is None else sample.extracted,
        "reasoning": reasoning,
        "reasoning_lines": 0 if reasoning is None else reasoning.count("\n") + 1,
        "shown": mark_answer(rest, sample.extracted),
        "message": sample.message,
    }


def group_view(group: Group, site: Site, key: str | None = None) -> dict[str, Any]:
    """The template context of a group: formatted numbers, resolved images, prompt parts."""
    key = key or group.key
    images = [{"ref": ref.ref, "src": site.image(ref)} for ref in group.images]
    scored = [s for s in group.samples if s.verdict in ("correct", "wrong")]
    return {
        "key": key,
        "example_id": group.example_id,
        "task": group.task,
        "category": group.category,
        "answer": group.answer,
        "images": images,
        "messages": prompt_messages(group.prompt, len(images)),
        "success_rate": fmt(group.success_rate),
        "correct": sum(1 for s in scored if s.correct),
        "scored": len(scored),
        "stats": [(label, fmt(value)) for label, value in group.stats.items()],
        "samples": [_sample_view(s, key) for s in group.samples],
    }


def sample_facets(group: Group, sample: Sample, names: Sequence[str]) -> dict[str, str]:
    """The value of each filter facet for one sample (``names`` picks which)."""
    every = {
        "verdict": sample.verdict,
        "status": sample.status,
        "advantage": sample.advantage_sign or "none",
        "length": "truncated" if sample.truncated else "complete",
        "task": group.task,
        "category": group.category or "(none)",
    }
    return {name: every[name] for name in names}


def group_text(group: Group) -> str:
    """What a search matches in a group: its id, gold answer and prompt text."""
    parts = [group.example_id, group.answer]
    for _, message_parts in prompt_messages(group.prompt, 0):
        parts.extend(p.text for p in message_parts if p.text)
    return "\n".join(parts).lower()


def sample_text(sample: Sample) -> str:
    return f"{sample.response}\n{sample.extracted or ''}".lower()


# -- listings ---------------------------------------------------------------------------------------


@dataclass
class Item:
    """One filterable element of a listing: its element id and facet values, and its search text."""

    element: str
    facets: dict[str, str]
    text: str


@dataclass
class Entry:
    """One group of a listing: its template context, size, search text and items."""

    view: dict[str, Any]
    size: int
    text: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Listing:
    """Pages of entries at ``base/index.html``, ``base/p2.html``, ... (see the module doc).

    Attributes:
        base: The listing's folder in the site.
        template: The page template (extends ``listing.html``).
        facets: The filter facets, in order.
        item_word, group_word: How the pages name an item and a group ("sample", "prompt").
        context: Further template variables (title, crumbs, the intro's numbers).
    """

    base: str
    template: str
    facets: Sequence[str]
    item_word: str
    group_word: str
    context: dict[str, Any]

    def page_path(self, page: int) -> str:
        return f"{self.base}/index.html" if page == 0 else f"{self.base}/p{page + 1}.html"

    def write(self, site: Site, entries: Sequence[Entry], per_page: int = SAMPLES_PER_PAGE) -> dict[str, str]:
        """Write every page and the two data files; the page of each entry, by its key."""
        pages: list[list[int]] = [[]]
        filled = 0
        for i, entry in enumerate(entries):
            if pages[-1] and filled + entry.size > per_page:
                pages.append([])
                filled = 0
            pages[-1].append(i)
            filled += entry.size
        if (site.root / self.base).is_dir():
            shutil.rmtree(site.root / self.base)  # pages of an earlier build of another length
        page_of = {i: p for p, members in enumerate(pages) for i in members}
        values = self._facet_values(entries)
        codes = {name: {v: c for c, v in enumerate(vs)} for name, vs in values.items()}
        index = {
            "pages": [posixpath.basename(self.page_path(p)) for p in range(len(pages))],
            "facets": list(self.facets),
            "values": [values[name] for name in self.facets],
            "groups": [[page_of[i], e.view["key"]] for i, e in enumerate(entries)],
            "items": [
                [i, item.element, *(codes[name][item.facets[name]] for name in self.facets)]
                for i, e in enumerate(entries)
                for item in e.items
            ],
        }
        text = {"groups": [e.text for e in entries], "items": [it.text for e in entries for it in e.items]}
        site.write_text(f"{self.base}/index.js", "window.MMRL_INDEX = " + _js(index) + ";\n")
        site.write_text(f"{self.base}/search.js", "window.MMRL_TEXT = " + _js(text) + ";\n")
        total_items = sum(len(e.items) for e in entries)
        page_paths = [self.page_path(p) for p in range(len(pages))]
        first = 0
        for p, members in enumerate(pages):
            here = [entries[i] for i in members]
            count = sum(len(e.items) for e in here)
            site.write(
                self.page_path(p),
                self.template,
                groups=[e.view for e in here],
                pages=page_paths,
                current=p,
                index_js=f"{self.base}/index.js",
                search_js=f"{self.base}/search.js",
                facets=[(name, values[name]) for name in self.facets],
                item_word=self.item_word,
                group_word=self.group_word,
                first_item=first + 1 if count else 0,
                last_item=first + count,
                total_items=total_items,
                groups_here=len(here),
                total_groups=len(entries),
                **self.context,
            )
            first += count
        return {entries[i].view["key"]: self.page_path(p) for p, members in enumerate(pages) for i in members}

    def _facet_values(self, entries: Sequence[Entry]) -> dict[str, list[str]]:
        seen: dict[str, set[str]] = {name: set() for name in self.facets}
        for e in entries:
            for item in e.items:
                for name in self.facets:
                    seen[name].add(item.facets[name])
        out = {}
        for name, found in seen.items():
            order = _ORDER.get(name, ())
            out[name] = [v for v in order if v in found] + sorted(found - set(order))
        return out


def entries_of(
    groups: Sequence[Group],
    site: Site,
    facets: Sequence[str],
    view: Callable[[Group], dict[str, Any]] | None = None,
) -> list[Entry]:
    """One entry per group, one item per sample (the element is the sample's table row)."""
    out = []
    for g in groups:
        v = view(g) if view is not None else group_view(g, site)
        items = [
            Item(sv["id"], sample_facets(g, s, facets), sample_text(s))
            for s, sv in zip(g.samples, v["samples"], strict=True)
        ]
        out.append(Entry(v, max(1, len(g.samples)), group_text(g), items))
    return out


def _js(value: Any) -> str:
    # Valid JavaScript as well as JSON; "</" is escaped so the text is safe even if inlined one day.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
