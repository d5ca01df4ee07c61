"""``snnc check MODEL``: spike verification. Which edges carry spikes, which layers run as
MACs, and why (rules SNN001-SNN005, see :mod:`snnc.check.rules`).

Exit code 0: no error (warnings allowed unless ``--strict``); 1: violations; 2: the model
cannot be read (one line on stderr, as every snnc command).
"""

from __future__ import annotations

import argparse
import json

from snnc.cli.common import add_model_argument, load_graph


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check", help="verify that a network is spike-driven (lint)",
        description="Infer what every edge carries (spike, count(k), graded, analog) and report, all at "
                    "once, what keeps the network from being spike-driven: layers fed non-spike values "
                    "(SNN001), integer-float residuals (SNN002), spikes not made by a neuron (SNN003), "
                    "non-spike operators on the spiking path (SNN004), unfoldable BatchNorms (SNN005). "
                    "Exit 0 clean, 1 violations, 2 unusable input.")
    add_model_argument(p)
    p.add_argument("--json", action="store_true",
                   help="print the result as JSON: summary, per-layer table, diagnostics")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("--allow-analog-head", action=argparse.BooleanOptionalAction, default=True,
                   help="let the classification head read analog values, as the ECMT supplement does "
                        "(default: on)")
    p.set_defaults(run=run)


def run(args) -> int:
    from snnc.check import check

    result = check(load_graph(args.model, args.dt), allow_analog_head=args.allow_analog_head, strict=args.strict)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.format())
    return result.exit_code
