"""Installed by `make` into a CPU virtualenv as ``_mmrl_torchvision_cpu_shim.py`` plus a ``.pth``
line that imports it at interpreter start (so vLLM worker processes get it too).

PyPI's torchvision is a CUDA build; beside the CPU torch wheel its ``_meta_registrations``
module fails with ``operator torchvision::nms does not exist``, which breaks every import of
transformers' image utilities and of qwen_vl_utils. Pre-seeding that one module with an empty
module lets torchvision's Python transforms import and work; only the compiled ops (nms,
roi_align, ...), which mmrl does not use, stay unavailable. Same logic as ``mmrl._compat``.
"""

import sys
import types
from importlib import metadata

try:
    _torch = metadata.version("torch")
    _tv = metadata.version("torchvision")
except metadata.PackageNotFoundError:
    _torch = _tv = ""
if _torch.endswith("+cpu") and _tv and not _tv.endswith("+cpu"):
    sys.modules.setdefault(
        "torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations")
    )
