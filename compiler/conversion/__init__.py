"""ANN -> SNN conversion (issue 14): calibration data, per-layer statistics, and the
conversion rules (ECMT, SIT, ReLU -> IF) on the rewrite engine."""

from snnc.conversion.calibrate import LayerStats, calibrate
from snnc.conversion.data import load_dataset

__all__ = ["LayerStats", "calibrate", "load_dataset"]
