"""mmrl: reinforcement learning with verifiable rewards for text LLMs and vision-language models.

The package imports without torch, vLLM or a GPU; heavy modules load when they are used.
"""

from mmrl._compat import apply_torchvision_cpu_shim

__version__ = "0.1.0"

apply_torchvision_cpu_shim()

__all__ = ["__version__"]
