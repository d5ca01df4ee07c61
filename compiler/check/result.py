"""What ``check`` returns: the diagnostics, the per-layer table, and how to show them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from snnc.check.diagnostics import ERROR, NOTE, WARNING, Diagnostic
from snnc.check.layers import SPIKE_DRIVEN, Layer
from snnc.check.rules import RULES


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass
class CheckResult:
    """The result of :func:`snnc.check.check`.

    ``diagnostics`` in rule order, then topological order; ``layers`` one row per synaptic
    layer and attention product; ``spike_driven_fraction`` the share of synaptic layers
    (with weights) that are spike-driven, the headline number (None without any);
    ``exit_code`` 0 when there is no error, 1 otherwise.
    """

    graph_name: str
    diagnostics: list[Diagnostic]
    layers: list[Layer]
    allow_analog_head: bool = True
    strict: bool = False
    counts: Counter = field(init=False)

    def __post_init__(self):
        self.counts = Counter(d.severity for d in self.diagnostics)

    # -- numbers -------------------------------------------------------------------------
    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == ERROR]

    @property
    def synaptic_layers(self) -> list[Layer]:
        return [r for r in self.layers if r.weighted]

    @property
    def attention_products(self) -> list[Layer]:
        return [r for r in self.layers if not r.weighted]

    @property
    def spike_driven_fraction(self) -> float | None:
        rows = self.synaptic_layers
        if not rows:
            return None
        return sum(r.verdict == SPIKE_DRIVEN for r in rows) / len(rows)

    @property
    def exit_code(self) -> int:
        return 1 if self.counts[ERROR] else 0

    def by_code(self, code: str) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.code == code]

    # -- output --------------------------------------------------------------------------
    def summary(self) -> dict:
        syn, att = self.synaptic_layers, self.attention_products
        return {"errors": self.counts[ERROR], "warnings": self.counts[WARNING], "notes": self.counts[NOTE],
                "synaptic_layers": len(syn),
                "spike_driven_layers": sum(r.verdict == SPIKE_DRIVEN for r in syn),
                "spike_driven_fraction": self.spike_driven_fraction,
                "attention_products": len(att),
                "spike_driven_attention_products": sum(r.verdict == SPIKE_DRIVEN for r in att)}

    def to_dict(self) -> dict:
        return {"model": self.graph_name,
                "options": {"allow_analog_head": self.allow_analog_head, "strict": self.strict},
                "summary": self.summary(), "exit_code": self.exit_code,
                "layers": [r.to_dict() for r in self.layers],
                "diagnostics": [d.to_dict() for d in self.diagnostics]}

    def summary_line(self) -> str:
        s = self.summary()
        line = (f"snnc check {self.graph_name}: {_plural(s['errors'], 'error')}, "
                f"{_plural(s['warnings'], 'warning')}, {_plural(s['notes'], 'note')}; ")
        if s["synaptic_layers"]:
            line += (f"{s['spike_driven_layers']}/{s['synaptic_layers']} synaptic layers spike-driven "
                     f"({100 * s['spike_driven_fraction']:.1f}%)")
        else:
            line += "no synaptic layers"
        if s["attention_products"]:
            line += (f", {s['spike_driven_attention_products']}/{s['attention_products']} "
                     "attention products spike-driven")
        return line

    def layer_table(self) -> str:
        head = ("layer", "op", "input kind", "verdict", "rule")
        rows = [(r.name, r.op, r.input_kind, r.verdict, r.code or "") for r in self.layers]
        widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        return "\n".join(["  " + fmt.format(*head).rstrip()] + ["  " + fmt.format(*r).rstrip() for r in rows])

    def format(self, *, layers: bool = True) -> str:
        """The listing: diagnostics grouped by rule with counts, the layer table, a summary."""
        parts = []
        for rule in RULES:
            found = self.by_code(rule.code)
            if not found:
                continue
            counts = Counter(d.severity for d in found)
            tally = ", ".join(_plural(counts[s], s) for s in (ERROR, WARNING, NOTE) if counts[s])
            title = f"{rule.code} {rule.title}: {tally}"
            parts.append(f"{title}\n{'=' * len(title)}\n" + "\n\n".join(d.format() for d in found))
        if layers and self.layers:
            parts.append("synaptic layers and attention products\n" + self.layer_table())
        parts.append(self.summary_line())
        return "\n\n".join(parts)
