"""Energy models (data: per-op energies with their sources) and the two energy methods.

    from snnc.backends.energy import load_model, measured, theoretical, ann_flops, ann_energy
    model = load_model("45nm")                  # or "loihi1", or a .json / .toml file
    per_layer = measured(sim_result, model)     # LayerEnergy per layer, per sample
"""

from snnc.backends.energy.methods import (METHODS, LayerEnergy, ann_energy, ann_flops, measured, theoretical,
                                          total)
from snnc.backends.energy.models import DEFAULT, MODELS, EnergyModel, load_model, model_from_dict

__all__ = ["DEFAULT", "METHODS", "MODELS", "EnergyModel", "LayerEnergy", "ann_energy", "ann_flops", "load_model",
           "measured", "model_from_dict", "theoretical", "total"]
