"""A diagnostic: what a rule found, where, what made it, and how to fix it.

It reads like a compiler's (MLIR's location + severity + message + notes)::

    error[SNN002]: integer-float residual: 'block.0.mlp.fc1_conv' reads count(3) values  [onnx: /block.0/mlp/fc1_conv/Conv]
      %block.0.mlp.fc1_conv = conv(%block.0.add) {weight: f32[1536,384,1], bias: f32[1536]} : analog[1536,64]
    note: made by %block.0.add = add(%patch_embed.reshape_37, %block.0.attn.proj_lif) : count(3)[384,64] — ...
    note: chain: patch_embed.add -> patch_embed.reshape_37 -> block.0.add
    help: move the spiking neuron before the conv ... (SN-ConvBN, Spikingformer Eq. 4)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

ERROR, WARNING, NOTE = "error", "warning", "note"
SEVERITIES = (ERROR, WARNING, NOTE)
# a chain longer than this prints its first node, "…", and the last ones
_CHAIN_SHOWN = 6


@dataclass(frozen=True)
class Diagnostic:
    """One finding. ``node``/``op``/``source`` locate it (IR name, IR op, ONNX node name);
    ``chain`` names the nodes that produced the offending value, in data-flow order;
    ``ir`` is the node in IR syntax, ``notes`` the lines that explain it."""

    code: str
    severity: str
    node: str
    op: str
    source: str
    message: str
    fix: str
    chain: tuple[str, ...] = ()
    ir: str = ""
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def promoted(self) -> Diagnostic:
        """The same finding as an error (``--strict`` for warnings)."""
        return replace(self, severity=ERROR) if self.severity == WARNING else self

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "node": self.node, "op": self.op,
                "source": self.source, "chain": list(self.chain), "message": self.message,
                "fix": self.fix, "notes": list(self.notes), "ir": self.ir}

    def format(self) -> str:
        where = f"  [onnx: {self.source}]" if self.source else ""
        lines = [f"{self.severity}[{self.code}]: {self.message}{where}"]
        if self.ir:
            lines.append(f"  {self.ir}")
        lines += [f"note: {n}" for n in self.notes]
        if len(self.chain) > 1:
            lines.append(f"note: chain: {chain_str(self.chain)}")
        lines.append(f"help: {self.fix}")
        return "\n".join(lines)


def chain_str(chain) -> str:
    chain = list(chain)
    if len(chain) > _CHAIN_SHOWN:
        skipped = len(chain) - _CHAIN_SHOWN
        chain = [chain[0], f"… ({skipped} more)"] + chain[-(_CHAIN_SHOWN - 1):]
    return " -> ".join(chain)
