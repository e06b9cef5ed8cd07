"""Checkpoint files hashed while they are written, so a save is one pass over the bytes.

accelerate's ``save_state`` writes the weights (safetensors) and the optimizer state
(``torch.save``) through one function, ``accelerate.checkpointing.save``. While
``hashing_saves(directory)`` is active that function is replaced by one that writes the same file
through ``HashingWriter``, which feeds every byte to sha256 on its way to disk; the digests are
collected for the manifest (``mmrl.checkpoints.write_manifest(directory, known)``), which then does
not read those files again. Files written any other way (FSDP's sharded state, the tokenizer) are
not in the mapping and are hashed by the manifest after the fact, as before.

``write_safetensors`` writes the safetensors format itself (an 8-byte little-endian header length,
a JSON header of dtype, shape and byte range per tensor, then the raw bytes), one tensor at a time,
so no second copy of the model is held in memory. Any safetensors reader loads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import struct
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import torch

__all__ = ["HashingWriter", "hashing_saves", "write_safetensors"]

#: torch dtypes and their safetensors names.
_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
    torch.float8_e4m3fn: "F8_E4M3",
    torch.float8_e5m2: "F8_E5M2",
}


class HashingWriter(io.RawIOBase):
    """A write-only file object that passes bytes to ``raw`` and to a running sha256."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.raw.write(view)
        return len(view)

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def write_safetensors(
    tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None
) -> str:
    """Write ``tensors`` to ``path`` in the safetensors format; return the file's sha256.

    Tensors are laid out by decreasing element size, then name (as safetensors does), after a
    header padded to 8 bytes, so every tensor starts at a multiple of its element size.
    """
    names = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name in names:
        t = tensors[name]
        if t.dtype not in _DTYPES:
            raise TypeError(f"{name}: dtype {t.dtype} cannot be written to safetensors")
        size = t.numel() * t.element_size()
        header[name] = {
            "dtype": _DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as raw:
        out = HashingWriter(raw)
        out.write(struct.pack("<Q", len(blob)))
        out.write(blob)
        for name in names:
            flat = tensors[name].detach().contiguous().reshape(-1)
            if flat.numel():
                out.write(flat.cpu().view(torch.uint8).numpy())
    return out.hexdigest()


@contextlib.contextmanager
def hashing_saves(directory: Path) -> Iterator[dict[str, str]]:
    """While active, accelerate's checkpoint files are hashed as written; yields ``{relative name: sha256}``.

    Where accelerate is laid out otherwise (another version), nothing is replaced and the mapping
    stays empty: the manifest then hashes those files itself.
    """
    known: dict[str, str] = {}
    try:
        import accelerate.checkpointing as checkpointing
        from accelerate.state import PartialState
        from accelerate.utils import DistributedType
        from accelerate.utils.other import clean_state_dict_for_safetensors
    except ImportError:
        yield known
        return
    original = getattr(checkpointing, "save", None)
    if original is None:
        yield known
        return

    def save(obj: Any, f: Any, save_on_each_node: bool = False, safe_serialization: bool = False) -> None:
        state = PartialState()
        if state.distributed_type == DistributedType.XLA or not isinstance(f, (str, Path)):
            return original(
                obj, f, save_on_each_node=save_on_each_node, safe_serialization=safe_serialization
            )
        if not (state.is_local_main_process if save_on_each_node else state.is_main_process):
            return None
        path = Path(f)
        if safe_serialization:
            if isinstance(obj, OrderedDict):
                obj = clean_state_dict_for_safetensors(obj)
            digest = write_safetensors(obj, path, {"format": "pt"})
        else:
            with open(path, "wb") as raw:
                out = HashingWriter(raw)
                torch.save(obj, out)
            digest = out.hexdigest()
        known[str(path.resolve().relative_to(directory.resolve()))] = digest
        return None

    checkpointing.save = save
    try:
        yield known
    finally:
        checkpointing.save = original
