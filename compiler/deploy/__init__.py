"""Deployment: ``snnc compile`` (model -> Loihi artifact) and ``snnc run`` (artifact -> outputs).

    from snnc.deploy import compile_model, write_artifact, load_artifact
"""

from snnc.deploy.artifact import load_artifact, write_artifact
from snnc.deploy.pipeline import Compilation, compile_model

__all__ = ["Compilation", "compile_model", "load_artifact", "write_artifact"]
