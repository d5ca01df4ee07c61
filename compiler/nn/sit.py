"""SIT's Spiking-Softmax (``001_*``, Eq. 1-10): SI-exp neurons, the SI-norm neuron, their
composition, and the fitter of the SI-exp tables.

    Spiking_Softmax(x)_i = exp_i(x_i) / norm(Σ_j exp_j(x_j))                   (Eq. 1)

- :class:`SIExp` (Eq. 2-4) turns one float into at most K spikes whose weighted sum is
  ≈ exp(x) on [−1, 1]; its per-step tables T(t), h(t), d(t) are fitted once, offline, by
  :func:`snnc.nn.sit_fit.search_si_exp_series` and :mod:`snnc.nn.sit_lanes` (SIT Section
  3.3: 10,000 evenly spaced points in [−1, 1]; :func:`fit_si_exp` fits one K by surrogate
  gradients). The fitted tables (K = 4…84, :func:`shipped_ks`; SIT's RMSE met from K = 47)
  ship in ``si_exp_tables.json`` (written by
  ``benchmarks/fit_si_exp_tables.py``): nothing trains at import time.
- :class:`SINorm` (Eq. 5-10): threshold V_th = Σ exp_i, weight w = exp_i, output
  ``max(0, N_spike·w / V_th)`` spikes.
- :class:`SpikingSoftmax`: the two together, with the paper's optional sigmoid in front
  for inputs beyond [−1, 1] (Section 4.3.3).

The fitting code lives in :mod:`snnc.nn.sit_fit`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np
import torch
from torch import nn

TABLES_FILE = "si_exp_tables.json"


def _symbolic(op: str, x: torch.Tensor, attrs: dict) -> torch.Tensor | None:
    """One ``snnc::<op>`` node under ``torch.onnx.export`` (body: :mod:`snnc.onnx.dialect_sit`),
    or None when not exporting. Both SIT ops keep their input's shape."""
    if not torch.onnx.is_in_onnx_export():
        return None
    return torch.onnx.ops.symbolic(f"snnc::{op}", (x,), attrs, dtype=x.dtype, shape=x.shape, version=1)


@lru_cache(maxsize=None)
def load_tables() -> dict:
    """The shipped SI-exp tables: ``{"K": {"T": [...], "h": [...], "d": [...], "rmse": r}}``
    plus ``"meta"`` (how they were fitted)."""
    text = resources.files(__package__).joinpath(TABLES_FILE).read_text()
    return json.loads(text)


def shipped_ks() -> list[int]:
    return sorted(int(k) for k in load_tables() if k != "meta")


class SIExp(nn.Module):
    """SIT's Spiking Exponential Neuron, SI-exp (SIT Eq. 2-4), K inner steps per input:

        v(1)   = x
        z(t)   = Θ(v(t) − T(t))                 (Eq. 3; Θ(0) = 1 as the other snnc neurons)
        v(t+1) = v(t) − h(t)·z(t),  t < K        (Eq. 2)
        out    = Σ_{t=1}^{K} d(t)·z(t)           (Eq. 4, ≈ exp(x) once T, h, d are fitted)

    The tables ``T_table``, ``h_table``, ``d_table`` (length K) are the fitted parameters
    (SIT fits them once on 10,000 points in [−1, 1]). The neuron is elementwise: any input
    shape, e.g. ``[T, N, ...]``, each element coded independently in K steps.
    :meth:`spike_train` returns the spikes z, ``[K, *x.shape]``.
    :meth:`from_table` builds one from the shipped tables, :meth:`fitted` fits new ones.
    """

    def __init__(self, K: int, T_table, h_table, d_table):
        super().__init__()
        if int(K) != K or K < 1:
            raise ValueError(f"SIExp: K must be an integer >= 1, got {K}")
        self.K = int(K)
        for name, table in (("T_table", T_table), ("h_table", h_table), ("d_table", d_table)):
            t = torch.as_tensor(np.asarray(table, dtype=np.float32))
            if t.shape != (self.K,):
                raise ValueError(f"SIExp: {name} must have K = {self.K} entries, got shape {tuple(t.shape)}")
            if not torch.isfinite(t).all():
                raise ValueError(f"SIExp: {name} must be finite")
            self.register_buffer(name, t)
        # plain lists for export (reading buffers while tracing would specialise shapes)
        self._attrs = self.onnx_attributes()

    @classmethod
    def from_table(cls, K: int) -> "SIExp":
        """SI-exp with the shipped tables for this K (``si_exp_tables.json``: :func:`shipped_ks`)."""
        tables = load_tables()
        if str(K) not in tables:
            raise ValueError(f"SIExp.from_table: no shipped table for K = {K}; "
                             f"shipped: {shipped_ks()} (fit one with snnc.nn.fit_si_exp)")
        tab = tables[str(K)]
        return cls(K, tab["T"], tab["h"], tab["d"])

    @classmethod
    def fitted(cls, K: int, seed: int = 0, **kwargs) -> "SIExp":
        """SI-exp with tables fitted now by :func:`snnc.nn.fit_si_exp` (seconds per K)."""
        from .sit_fit import fit_si_exp

        fit = fit_si_exp(K, seed=seed, **kwargs)
        return cls(K, fit["T"], fit["h"], fit["d"])

    def spike_train(self, x: torch.Tensor) -> torch.Tensor:
        th = self.T_table.to(x.dtype)
        h = self.h_table.to(x.dtype)
        v = x
        spikes = []
        for t in range(self.K):
            z = (v >= th[t]).to(x.dtype)
            spikes.append(z)
            v = torch.where(z.bool(), v - h[t], v)
        return torch.stack(spikes)

    def onnx_attributes(self) -> dict:
        """``snnc::SIExp``'s attributes: K and the three tables as float lists."""
        return {"K": self.K, **{name: [float(v) for v in getattr(self, f"{name}_table").tolist()]
                                for name in ("T", "h", "d")}}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        exported = _symbolic("SIExp", x, self._attrs)
        if exported is not None:
            return exported
        z = self.spike_train(x)
        d = self.d_table.to(x.dtype).view(-1, *([1] * x.dim()))
        return (d * z).sum(dim=0)

    def extra_repr(self) -> str:
        return f"K={self.K}"


class SINorm(nn.Module):
    """SIT's Spiking Collaboration Normalized Neuron, SI-norm (Eq. 5-10).

    Its weights are the SI-exp outputs ``w = exp_i`` and its threshold their sum along
    ``dim`` (Eq. 5, ``V_th = Σ_i exp_i``). The input is the regular spike sequence ``sr``
    that rate-codes 1.0: ``N_spike`` spikes in the period.

    - ``timesteps=None`` (Fig. 5b, the default): the ``N_spike`` input spikes are fed at
      once, and the output is Eq. 10 as written, ``out = max(0, N_spike·w / V_th)``.
    - ``timesteps=T`` (Fig. 5a): the neuron is simulated for T steps with ``sr(t) = 1``
      every step (so ``N_spike = T``), charge ``v(t) = v(t−1) + sr(t)·w`` (Eq. 6),
      ``z(t) = Θ(v(t) − V_th)``, discharge ``v(t) −= V_th·z(t)`` (Eq. 7-8), and
      ``out = Σ_t z(t)`` (Eq. 9): an integer count, ``floor(T·w/V_th)`` for 0 ≤ w ≤ V_th.
      The stepped neuron runs in exact fixed point: w is first rounded to a multiple of
      ``2^-frac_bits`` (``FRAC_BITS`` = 10) and kept as that integer, so V_th, v and every
      comparison are exact integers in float32 and no summation order can move a spike.
      In plain float32 a running total that should sit exactly on V_th (equal weights,
      T a multiple of the row length: every uniform attention row) lands an ulp either
      side depending on how torch, onnxruntime or numpy order ``Σ w``, and the spike
      flips (``tests/test_sit_ties.py``). Exact while ``2·Σ|w|·2^frac_bits < 2^24``,
      i.e. ``Σ|w| ≤ 8192`` (about 2,900 SI-exp outputs of at most e per row).

    ``out`` is a spike count; ``out / N_spike`` (the rate) is the softmax estimate, which
    :class:`SpikingSoftmax` returns. Where ``V_th ≤ 0`` (no SI-exp neuron fired) out = 0.
    """

    FRAC_BITS = 10

    def __init__(self, dim: int = -1, n_spike: int = 1, timesteps: int | None = None,
                 frac_bits: int = FRAC_BITS):
        super().__init__()
        if timesteps is not None:
            if int(timesteps) != timesteps or timesteps < 1:
                raise ValueError(f"SINorm: timesteps must be an integer >= 1, got {timesteps}")
            n_spike = int(timesteps)
        if not (np.isfinite(n_spike) and n_spike > 0):
            raise ValueError(f"SINorm: n_spike must be > 0, got {n_spike}")
        if int(frac_bits) != frac_bits or not 0 <= frac_bits <= 20:
            raise ValueError(f"SINorm: frac_bits must be an integer in 0..20, got {frac_bits}")
        self.dim = int(dim)
        self.n_spike = n_spike
        self.timesteps = None if timesteps is None else int(timesteps)
        self.frac_bits = int(frac_bits)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.timesteps is None:       # Fig. 5b: one snnc::SINorm node; Fig. 5a exports unrolled
            exported = _symbolic("SINorm", w, {"axis": self.dim, "n_spike": float(self.n_spike)})
            if exported is not None:
                return exported
        if self.timesteps is not None:
            # fixed point (class docstring): integer-valued float32, so Σ and v are exact
            w = torch.round(w * float(2 ** self.frac_bits))
        v_th = w.sum(dim=self.dim, keepdim=True)                       # Eq. 5
        ok = v_th > 0
        safe = torch.where(ok, v_th, torch.ones_like(v_th))
        if self.timesteps is None:
            out = torch.clamp(self.n_spike * w / safe, min=0.0)          # Eq. 10
        else:
            v = torch.zeros_like(w)
            out = torch.zeros_like(w)
            for _ in range(self.timesteps):
                v = v + w                                              # Eq. 6, sr(t) = 1
                z = (v >= safe).to(w.dtype)
                v = v - safe * z                                       # Eq. 7-8
                out = out + z                                          # Eq. 9
        return torch.where(ok, out, torch.zeros_like(out))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_spike={self.n_spike}, timesteps={self.timesteps}, frac_bits={self.frac_bits}"


class SpikingSoftmax(nn.Module):
    """SIT's Spiking-Softmax (Eq. 1): SI-exp neurons (Eq. 2-4) on every element, then one
    SI-norm neuron (Eq. 5-10) per element with ``V_th`` summed along ``dim``:

        s = sigmoid(x) if pre_sigmoid else x
        e = SIExp_K(s)                                     (≈ exp(s) on [−1, 1])
        y = SINorm(e) / N_spike = max(0, e / Σ_dim e)       (Eq. 10 decoded as a rate)

    ``K`` picks the shipped SI-exp table (:func:`shipped_ks`) unless ``si_exp`` is given. The tables are
    fitted on [−1, 1] only; SIT puts a sigmoid before the softmax of models whose softmax
    inputs leave that range (Section 4.3.3), so ``pre_sigmoid=True`` approximates
    ``softmax(sigmoid(x))`` — a different function, which the ANN must be fine-tuned with.
    ``timesteps`` selects SI-norm's stepped simulation (Fig. 5a, outputs quantised to
    1/timesteps); the default is the Fig. 5b shortcut. Elementwise over every other axis,
    so ``[T, N, ...]`` inputs work with ``dim`` naming the softmax axis.
    """

    def __init__(self, K: int = 12, dim: int = -1, pre_sigmoid: bool = False,
                 si_exp: SIExp | None = None, timesteps: int | None = None):
        super().__init__()
        self.si_exp = si_exp if si_exp is not None else SIExp.from_table(K)
        self.K = self.si_exp.K
        self.dim = int(dim)
        self.pre_sigmoid = bool(pre_sigmoid)
        self.si_norm = SINorm(dim=dim, timesteps=timesteps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(x) if self.pre_sigmoid else x
        out = self.si_norm(self.si_exp(s))
        return out if self.si_norm.n_spike == 1 else out / self.si_norm.n_spike

    def extra_repr(self) -> str:
        return f"K={self.K}, dim={self.dim}, pre_sigmoid={self.pre_sigmoid}"
