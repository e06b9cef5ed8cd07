"""Small environment fixes applied once at import time.

The only one so far: PyPI's torchvision wheels are CUDA builds. Next to a CPU-only torch wheel
(``torch==2.13.0+cpu``) ``import torchvision`` dies in ``torchvision._meta_registrations`` with
``operator torchvision::nms does not exist``, and with it ``qwen_vl_utils`` and the Qwen-VL
processors of transformers, which import torchvision at module level. mmrl never uses the
compiled torchvision ops (nms, roi_align, ...), only the Python transforms, so pre-seeding that
one submodule with an empty module lets everything else import and work. The fix is applied only
for exactly that pairing (a ``+cpu`` torch and a torchvision that is not ``+cpu``), decided from
package metadata so that nothing heavy is imported here.
"""

from __future__ import annotations

import sys
import types
from importlib import metadata

_SHIM_MODULE = "torchvision._meta_registrations"


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def needs_torchvision_cpu_shim() -> bool:
    """True when a CPU-only torch sits next to a CUDA-built torchvision."""
    torch_version = _dist_version("torch")
    tv_version = _dist_version("torchvision")
    if torch_version is None or tv_version is None:
        return False
    return torch_version.endswith("+cpu") and not tv_version.endswith("+cpu")


def apply_torchvision_cpu_shim() -> bool:
    """Pre-seed ``torchvision._meta_registrations`` when needed; returns whether it did."""
    if "torchvision" in sys.modules or not needs_torchvision_cpu_shim():
        return False
    sys.modules.setdefault(_SHIM_MODULE, types.ModuleType(_SHIM_MODULE))
    return True
