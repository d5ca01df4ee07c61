"""Third-party model zoos in the tests: torchvision and timm, as their users build them.

torchvision's PyPI wheel is a CUDA build whose compiled ops do not load beside the CPU
torch snnc pins; its pure-Python models load once the two op schemas its import checks
(``torchvision::nms``, ``qnms``) exist, so they are defined first when missing. No weights
are downloaded: models are built with random initialisation.
"""

from __future__ import annotations

from conftest import require

_LIB = None     # the torch.library.Library holding the schemas: they live as long as it does


def _has(torch, op: str) -> bool:
    try:
        getattr(torch.ops.torchvision, op)
        return True
    except (AttributeError, RuntimeError):
        return False


def torchvision():
    global _LIB
    torch = require("torch")
    missing = [op for op in ("nms", "qnms") if not _has(torch, op)]
    if missing and _LIB is None:
        _LIB = torch.library.Library("torchvision", "DEF")
        for op in missing:
            _LIB.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    return require("torchvision")


def timm():
    torchvision()
    return require("timm")


def transformers():
    """Hugging Face transformers (its BERT imports torchvision through its image utilities)."""
    torchvision()
    return require("transformers")
