"""Energy models as data: a name, per-operation energies in picojoules, and a source.

=========  =====  ======  ======================  =====================================
model      E_AC   E_MAC   neuron update           source
=========  =====  ======  ======================  =====================================
45nm       0.9    4.6     (not counted)           Horowitz, ISSCC 2014: 32-bit float add
                                                  0.9 pJ, mult 3.7 pJ (as all three seeds)
loihi1     23.6   (none)  52 inactive / 81 active Davies et al., IEEE Micro 2018, Table 2
                          + 1.7 per spike sent    (pre-silicon; min. synaptic spike op)
=========  =====  ======  ======================  =====================================

A user model is a JSON or TOML file with the same keys::

    {"name": "my-chip", "source": "datasheet v2", "e_ac_pj": 0.03, "e_mac_pj": 0.2}

``e_mac_pj`` may be null: the target cannot multiply (MAC layers run elsewhere; their
energy is reported as unknown).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from snnc.ir.errors import SnncError
from snnc.ir.limits import loads


@dataclass(frozen=True)
class EnergyModel:
    """Energies per operation in pJ; ``None`` where the target has no such operation."""

    name: str
    e_ac_pj: float
    e_mac_pj: float | None
    source: str
    e_neuron_inactive_pj: float = 0.0      # a neuron update that does not fire
    e_neuron_active_pj: float = 0.0        # a neuron update that fires
    e_spike_pj: float = 0.0                # sending one spike (within a tile for loihi1)
    notes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


MODELS: dict[str, EnergyModel] = {
    "45nm": EnergyModel(
        "45nm", e_ac_pj=0.9, e_mac_pj=4.6,
        source="M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014: "
               "45 nm, 32-bit float add 0.9 pJ, multiply 3.7 pJ (E_MAC = 3.7 + 0.9)",
        notes="the energy model of Spikformer, Spikingformer, ECMT and SIT-conversion; neuron updates "
              "and data movement are not counted"),
    "loihi1": EnergyModel(
        "loihi1", e_ac_pj=23.6, e_mac_pj=None,
        e_neuron_inactive_pj=52.0, e_neuron_active_pj=81.0, e_spike_pj=1.7,
        source="M. Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip learning', "
               "IEEE Micro 38(1), 2018, Table 2 (pre-silicon figures)",
        notes="23.6 pJ is the minimum energy per synaptic spike op; spikes are charged the within-tile "
              "1.7 pJ (tile hops, 3.0/4.0 pJ E-W/N-S, need a core mapping and are left out); Loihi 1 "
              "has no multiplier: MAC layers run off-chip, their energy is unknown"),
}
DEFAULT = "45nm"
_FIELDS = set(EnergyModel.__dataclass_fields__)
_REQUIRED = {"name", "e_ac_pj", "e_mac_pj", "source"}


def load_model(spec: str | Path | None = None) -> EnergyModel:
    """A built-in model by name (``45nm``, ``loihi1``) or a user JSON/TOML file."""
    if spec is None:
        return MODELS[DEFAULT]
    if isinstance(spec, str) and spec in MODELS:
        return MODELS[spec]
    path = Path(spec)
    if not path.suffix:
        raise SnncError(f"unknown energy model {str(spec)!r}; choose one of {', '.join(MODELS)} "
                        "or give a .json / .toml file")
    if not path.exists():
        raise SnncError(f"{path}: no such energy model file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise SnncError(f"{path}: cannot read the energy model ({err})") from err
    if path.suffix == ".json":
        data = loads(text, str(path))    # nesting too deep is an error, not a RecursionError
    elif path.suffix == ".toml":
        try:
            import tomllib
        except ImportError as err:                       # Python 3.10
            raise SnncError(f"{path}: reading TOML needs Python >= 3.11; give a .json file") from err
        try:
            data = tomllib.loads(text)
        except RecursionError:
            raise SnncError(f"{path}: TOML nested too deeply to read") from None
        except tomllib.TOMLDecodeError as err:
            raise SnncError(f"{path}: not valid TOML ({err})") from err
    else:
        raise SnncError(f"{path}: energy models are .json or .toml files")
    return model_from_dict(data, str(path))


def model_from_dict(data, where: str = "energy model") -> EnergyModel:
    """Check and build an :class:`EnergyModel`; every problem is listed at once."""
    if not isinstance(data, dict):
        raise SnncError(f"{where}: expected an object with keys {sorted(_REQUIRED)}")
    problems = [f"unknown key {k!r}" for k in data if k not in _FIELDS]
    problems += [f"missing key {k!r}" for k in sorted(_REQUIRED) if k not in data]
    for key, value in data.items():
        if key.startswith("e_") and key in _FIELDS:
            if value is None and key == "e_mac_pj":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                problems.append(f"{key} must be a finite number >= 0 (pJ), got {value!r}")
        elif key in ("name", "source", "notes") and not isinstance(value, str):
            problems.append(f"{key} must be a string, got {value!r}")
    if problems:
        raise SnncError(f"{where}: invalid energy model", problems=problems)
    return EnergyModel(**data)
