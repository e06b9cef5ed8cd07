"""Where a recipe's rows come from: local files, a ``save_to_disk`` directory, the Hub, or a generator.

Local files keep the Hub schema, so a dataset downloaded on a machine with internet
(``huggingface-cli download --repo-type dataset ID --local-dir DIR``) loads from ``data.path=DIR``:

* a file: ``.parquet``, ``.jsonl`` or ``.json`` (JSON lines, or one JSON array) is the split itself;
* a directory written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``;
* any other directory: the data files of the split, found anywhere below it by the Hub's naming:
  ``train.jsonl``, ``data/train-00000-of-00001.parquet``, ``testmini/*.parquet`` (a folder named
  after the split), ``main/train-*.parquet`` (a folder named after the Hub config).

Parquet and JSON files are read with pyarrow and ``json`` directly (no cache copy is written);
images stay undecoded (``{"bytes", "path"}`` structs or paths) so that ``mmrl.data`` decodes each
one itself and can report a broken one with its row index. Relative image paths resolve against
the directory of the data file that names them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmrl.data.recipes import Recipe, RecipeContext
from mmrl.errors import UserError

__all__ = ["RowSource", "open_rows"]

DATA_SUFFIXES = (".parquet", ".jsonl", ".json")
_NOT_DATA = {"dataset_info.json", "state.json", "dataset_dict.json", "dataset_infos.json"}


@dataclass
class RowSource:
    """Rows of one split: ``rows`` yields ``(row_index, row, base_dir)``; ``columns`` may be ``None``
    when unknown before reading (generators)."""

    description: str
    columns: list[str] | None
    rows: Iterator[tuple[int, dict[str, Any], Path | None]]


def open_rows(recipe: Recipe, ctx: RecipeContext, path: str | None) -> RowSource:
    """The rows ``recipe`` reads for ``ctx.split``: generated, from ``path``, or from the Hub."""
    if recipe.generate is not None:
        if path is not None:
            raise UserError(
                f"recipe {recipe.name!r} generates its rows; data.path={path!r} must be null for it "
                "(to load saved rows, use the jsonl or parquet recipe)"
            )
        rows = ((i, row, None) for i, row in enumerate(recipe.generate(ctx)))
        return RowSource(f"the {recipe.name} generator", None, rows)
    if path is not None:
        return _local_rows(recipe, ctx, Path(os.path.expanduser(path)))
    if recipe.hub_id is None:
        raise UserError(
            f"recipe {recipe.name!r} reads local files: set data.path to a .jsonl or .parquet file "
            "(or a directory of them)"
        )
    return _hub_rows(recipe, ctx)


# --------------------------------------------------------------------------------------------
# Local files
# --------------------------------------------------------------------------------------------


def _local_rows(recipe: Recipe, ctx: RecipeContext, path: Path) -> RowSource:
    if not path.exists():
        raise UserError(f"data.path={str(path)!r} does not exist")
    if path.is_file():
        return _files_rows([path], f"{path}")
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return _saved_dataset_rows(path, ctx.split)
    files = split_files(path, ctx.split, recipe.hub_configs.get(ctx.split))
    shown = files[0] if len(files) == 1 else f"{len(files)} files under {path}"
    return _files_rows(files, str(shown))


def split_files(root: Path, split: str, config: str | None = None) -> list[Path]:
    """The data files of ``split`` below ``root`` (Hub naming), or a ``UserError`` saying what exists."""
    candidates = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix in DATA_SUFFIXES and p.name not in _NOT_DATA and not _hidden(p, root)
    )

    def matches(p: Path) -> bool:
        stem = p.name[: -len(p.suffix)]
        return stem == split or stem.startswith(split + "-") or p.parent.name == split

    found = [p for p in candidates if matches(p)]
    if config is not None:
        in_config = [p for p in found if config in p.relative_to(root).parts[:-1]]
        found = in_config or found
    folders = sorted({p.parent for p in found})
    if len(folders) > 1:
        listing = "\n  ".join(str(p.relative_to(root)) for p in found)
        raise UserError(
            f"data.path={str(root)!r} holds split {split!r} in several folders:\n  {listing}\n"
            "point data.path at the folder or file you mean"
        )
    if not found:
        listing = (
            "\n  ".join(str(p.relative_to(root)) for p in candidates[:20])
            or "(no .parquet/.jsonl/.json files)"
        )
        raise UserError(
            f"data.path={str(root)!r} has no file for split {split!r}. Files there:\n  {listing}\n"
            f"name them like {split}.jsonl or data/{split}-00000-of-00001.parquet, "
            "point data.path at one file, or choose another split"
        )
    return found


def _hidden(p: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in p.relative_to(root).parts)


def _files_rows(files: list[Path], description: str) -> RowSource:
    columns = _columns_of(files[0])

    def rows() -> Iterator[tuple[int, dict[str, Any], Path | None]]:
        index = 0
        for f in files:
            for row in _read_file(f):
                yield index, row, f.parent
                index += 1

    return RowSource(description, columns, rows())


def _columns_of(path: Path) -> list[str] | None:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:
            raise UserError(f"data.path: cannot read {path} as parquet ({exc})") from None
    return None  # JSON: the loader checks the first row's keys


def _read_file(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
            for batch in pf.iter_batches(batch_size=256):
                yield from batch.to_pylist()
        except OSError as exc:
            raise UserError(f"data.path: cannot read {path} as parquet ({exc})") from None
        return
    text_rows = _json_rows(path)
    yield from text_rows


def _json_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        head = fh.read(1)
        while head and head.isspace():
            head = fh.read(1)
        fh.seek(0)
        if head == "[":
            try:
                data = json.load(fh)
            except json.JSONDecodeError as exc:
                raise UserError(f"data.path: {path} is not valid JSON ({exc})") from None
            for i, row in enumerate(data):
                yield _check_object(row, path, i + 1)
            return
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(
                    f"data.path: {path} line {lineno} is not valid JSON ({exc}); fix or remove that line"
                ) from None
            yield _check_object(row, path, lineno)


def _check_object(row: Any, path: Path, where: int) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise UserError(f"data.path: {path} record {where} is a {type(row).__name__}, expected an object")
    return row


# --------------------------------------------------------------------------------------------
# datasets: save_to_disk directories and the Hub
# --------------------------------------------------------------------------------------------


def _saved_dataset_rows(path: Path, split: str) -> RowSource:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:
        raise UserError(f"data.path={str(path)!r}: datasets.load_from_disk failed ({exc})") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise UserError(
                f"data.path={str(path)!r} has splits {sorted(loaded)}, not {split!r}; choose one of them"
            )
        loaded = loaded[split]
    return _dataset_rows(loaded, f"{path} (save_to_disk, split {split})", None)


def _hub_rows(recipe: Recipe, ctx: RecipeContext) -> RowSource:
    config = recipe.hub_configs.get(ctx.split)
    try:
        import datasets

        ds = datasets.load_dataset(recipe.hub_id, name=config, split=ctx.split)
    except Exception as exc:
        hint = (
            f"On a machine with internet: `huggingface-cli download --repo-type dataset {recipe.hub_id} "
            f"--local-dir DIR`, copy DIR here and set data.path=DIR (or a parquet/jsonl file of the split)."
        )
        raise UserError(
            f"could not load {recipe.hub_id}"
            f"{' config ' + repr(config) if config else ''} split {ctx.split!r} from the Hugging Face Hub "
            f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}). "
            f"{hint}"
        ) from None
    label = f"{recipe.hub_id}{'/' + config if config else ''} [{ctx.split}] (Hugging Face Hub)"
    return _dataset_rows(ds, label, None)


def _dataset_rows(ds: Any, description: str, base_dir: Path | None) -> RowSource:
    """Rows of a ``datasets.Dataset`` with images left as stored (arrow format does not decode)."""

    def rows() -> Iterator[tuple[int, dict[str, Any], Path | None]]:
        index = 0
        for table in ds.with_format("arrow").iter(batch_size=256):
            for row in table.to_pylist():
                yield index, row, base_dir
                index += 1

    return RowSource(description, list(ds.column_names), rows())
