"""``snnc evaluate --workers N``: the data set sharded over a Ray cluster.

The slices of the data set (whole batches) are split into N contiguous shards; each Ray
task evaluates its shard slice by slice and returns one :class:`~snnc.conversion.evaluate.Partial`
per slice. The driver merges the partials in slice order — the same sums, added in the
same order, as a single process — so the table does not depend on N, to the last count.

Without ``--address`` a local Ray of N worker processes is started (and stopped); with
one, the tasks run on that cluster (each worker needs snnc installed). Ray is the
optional ``distributed`` extra.
"""

from __future__ import annotations

import os

import numpy as np

from snnc.ir.errors import SnncError


def _ray():
    try:
        import ray
    except ImportError as err:
        raise SnncError("--workers/--address need Ray: pip install 'snnc[distributed]' "
                        "(or run with --workers 1)") from err
    return ray


def _evaluate_shard(snn, ann_bytes: bytes, data: dict, labels, slices, steps, engine):
    import onnx

    from snnc.conversion.data import input_specs
    from snnc.conversion.calibrate import ann_session
    from snnc.conversion.evaluate import run_slice

    ann = onnx.load_from_string(ann_bytes)
    session, specs = ann_session(ann, threads=1), input_specs(ann)
    base = slices[0][0]
    return [run_slice(snn, session, specs, {k: v[lo - base:hi - base] for k, v in data.items()},
                      None if labels is None else labels[lo - base:hi - base], steps, engine)
            for lo, hi in slices]


def shards(slices: list[tuple[int, int]], workers: int) -> list[list[tuple[int, int]]]:
    """``slices`` in at most ``workers`` contiguous groups of nearly equal length."""
    k = min(workers, len(slices))
    bounds = np.linspace(0, len(slices), k + 1).round().astype(int)
    return [slices[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def run_sharded(snn, ann, data, labels, slices, steps, engine, workers: int, address: str | None):
    ray = _ray()
    started = False
    if not ray.is_initialized():
        kwargs = {"address": address} if address else {"num_cpus": workers, "include_dashboard": False}
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            ray.init(log_to_driver=False, logging_level="ERROR", configure_logging=False, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise SnncError(f"cannot start or join Ray ({str(err).splitlines()[0]}); "
                            "check --address, or run with --workers 1") from err
        started = True
    try:
        task = ray.remote(num_cpus=1)(_evaluate_shard)
        snn_ref, ann_ref = ray.put(snn), ray.put(ann.SerializeToString())
        futures = []
        for group in shards(slices, max(workers, 1)):
            lo, hi = group[0][0], group[-1][1]
            futures.append(task.remote(snn_ref, ann_ref, {k: np.asarray(v[lo:hi]) for k, v in data.items()},
                                       None if labels is None else labels[lo:hi], group, steps, engine))
        return [part for result in ray.get(futures) for part in result]
    finally:
        if started:
            ray.shutdown()
