"""Import coverage of the ANN zoo: every torchvision classification model (and stated
lists of timm and transformers models), exported with both torch.onnx exporters, through ``snnc show``'s
importer. Prints one line per model and exporter — ``ok`` with the IR's node count, or
the first line of the refusal — then the counts, and the refusal reasons grouped.

    python benchmarks/bench_zoo.py [--exporters legacy,dynamo] [--models resnet18,...]
                                   [--timm] [--transformers] [--size 64] [--limit N] [--verify]
    python benchmarks/bench_zoo.py --table run1.log run2.log    # the docs' tables from runs' output

Random initialisation, eval mode, batch axis dynamic (legacy) or fixed at 1 (dynamo),
opset 17/18. ``--verify`` also runs each imported graph in the IR interpreter on a batch
of 2 and compares it with onnxruntime running the file (a sample at a time where the
file fixes its batch): ``ok`` then states the largest difference, and a model whose
outputs differ by more than 1e-3 x max(1, their largest magnitude) is ``wrong``. Models
whose architecture fixes the input size (the ViTs: 224 px) use it;
the rest use ``--size`` px to keep the run short. torchvision is loaded the way
``tests/zoo.py`` does (its CUDA wheel's compiled ops are not needed).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the ViT/DeiT/ConvNeXt/EfficientNet families (the goal), then a few others
TIMM_MODELS = ["vit_tiny_patch16_224", "vit_small_patch16_224", "deit_tiny_patch16_224",
               "deit_tiny_distilled_patch16_224", "deit3_small_patch16_224", "convnext_atto", "convnextv2_atto",
               "efficientnet_b0", "efficientnet_lite0", "tf_efficientnet_b0", "efficientnetv2_rw_t",
               "resnet18", "mobilenetv3_small_050", "mobilenetv4_conv_small", "regnetx_002",
               "swin_tiny_patch4_window7_224", "mobilevit_xxs", "levit_128s"]
# the architecture fixes the input size (ViTs, Swin, LeViT: 224 px), or needs >= 224 px
# (AlexNet's and VGG's adaptive pools to 6x6 / 7x7, which the legacy exporter takes only
# when the input is a multiple of them)
FIXED_224 = ("vit_", "swin_", "maxvit_", "deit", "levit_", "alexnet", "vgg")
SIZE = {"inception_v3": 299}
# transformers: tiny random configurations (no download), token ids + padding mask in,
# sequence-classification logits out (ViT: pixels in); <name>: (config, model, config kwargs)
_TINY = dict(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
             max_position_embeddings=24, num_labels=3)
TRANSFORMERS_MODELS = {
    "bert": ("BertConfig", "BertForSequenceClassification", _TINY),
    "roberta": ("RobertaConfig", "RobertaForSequenceClassification", _TINY),
    "electra": ("ElectraConfig", "ElectraForSequenceClassification", {**_TINY, "embedding_size": 16}),
    "albert": ("AlbertConfig", "AlbertForSequenceClassification", {**_TINY, "embedding_size": 16}),
    "distilbert": ("DistilBertConfig", "DistilBertForSequenceClassification",
                   dict(vocab_size=50, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=24,
                        num_labels=3)),
    "vit": ("ViTConfig", "ViTForImageClassification",
            dict(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                 num_attention_heads=4, intermediate_size=64, num_labels=3)),
}
TOKENS = 8


def _images(px: int):
    """Inputs ``n -> {"x": [n, 3, px, px]}`` (random, seeded)."""
    import numpy as np

    return lambda n: {"x": np.random.default_rng(n).standard_normal((n, 3, px, px)).astype(np.float32)}


def _tokens(n: int) -> dict:
    """``n`` rows of TOKENS random token ids with right padding of random length."""
    import numpy as np

    rng = np.random.default_rng(n)
    mask = np.ones((n, TOKENS), dtype=np.int64)
    for i in range(n):
        mask[i, TOKENS - rng.integers(0, TOKENS // 2):] = 0
    return {"input_ids": rng.integers(1, 50, (n, TOKENS)).astype(np.int64), "attention_mask": mask}


def _export(model, inputs, exporter: str, path: Path) -> None:
    """Write the model to ``path`` as a user would: a file (weights past protobuf's 2 GiB,
    e.g. regnet_y_128gf's, go to external data beside it); no ``torch.no_grad()``, under
    which nn.MultiheadAttention takes a fused kernel the legacy exporter cannot write.
    ``inputs(n)``: the named example inputs at batch n, in the order forward takes them."""
    import torch

    if exporter == "legacy":
        example = inputs(1)
        torch.onnx.export(model, tuple(torch.from_numpy(v) for v in example.values()), str(path),
                          input_names=list(example), opset_version=17, dynamo=False,
                          dynamic_axes={name: {0: "n"} for name in example})
        return
    # dynamo-dyn: a dynamic batch; torch.export specialises a size-1 example, so export at 2
    example = inputs(2 if exporter == "dynamo-dyn" else 1)
    batch = torch.export.Dim("n")
    dynamic = {"dynamic_shapes": tuple({0: batch} for _ in example)} if exporter == "dynamo-dyn" else {}
    program = torch.onnx.export(model, tuple(torch.from_numpy(v) for v in example.values()), dynamo=True,
                                opset_version=18, verbose=False, **dynamic)
    program.save(str(path))


def _verify(graph, path: Path, inputs) -> tuple[str, str]:
    """The IR interpreter against onnxruntime on one batch of 2."""
    import numpy as np
    import onnx

    from snnc.ir.interpret import Interpreter
    from onnx_helpers import run_ort

    proto = onnx.load(str(path))
    feed = dict(zip([i.name for i in proto.graph.input], inputs(2).values()))
    (mine,) = Interpreter(graph).run(feed).values()
    fixed = proto.graph.input[0].type.tensor_type.shape.dim[0].HasField("dim_value")
    runs = ([run_ort(proto, {k: v[i:i + 1] for k, v in feed.items()}) for i in range(2)] if fixed
            else [run_ort(proto, feed)])
    theirs = np.concatenate([next(iter(r.values())) for r in runs])
    diff, scale = float(np.abs(mine - theirs).max()), float(np.abs(theirs).max())
    status = "ok" if diff <= 1e-3 * max(scale, 1.0) else "wrong"
    return status, f"max |IR - onnxruntime| {diff:.1e} (outputs up to {scale:.1e})"


def _seeded(cls, config):
    import torch

    torch.manual_seed(0)
    return cls(config)


def _try(name: str, build, inputs, exporter: str, verify: bool = False) -> tuple[str, str]:
    from snnc.onnx.importer import import_onnx

    try:
        model = build().eval()
    except Exception as err:  # noqa: BLE001 -- report, do not stop the survey
        return "build", f"{type(err).__name__}: {str(err).splitlines()[0][:100]}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.onnx"
        try:
            _export(model, inputs, exporter, path)
        except Exception as err:  # noqa: BLE001
            text = str(err).strip()
            return "export", f"{type(err).__name__}: {text.splitlines()[0][:100] if text else ''}"
        del model
        try:
            graph = import_onnx(path)
        except Exception as err:  # noqa: BLE001
            return "refused", f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
        if not verify:
            return "ok", f"{len(graph)} nodes"
        status, detail = _verify(graph, path, inputs)
        return status, f"{len(graph)} nodes, {detail}"


LINE = re.compile(r"^(legacy|dynamo|dynamo-dyn) +(\S+) +(ok|wrong|refused|export|build) +[\d.]+s  (.*)$")


def _family(name: str) -> str:
    """``resnet50`` -> resnet, ``timm/tf_efficientnet_b0`` -> timm/efficientnet,
    ``timm/mobilenetv3_small_050`` -> timm/mobilenet."""
    prefix, _, bare = name.rpartition("/")
    bare = bare.removeprefix("tf_")
    family = "wide_resnet" if bare.startswith("wide_resnet") else re.sub(r"(v\d+|\d+)$", "", bare.split("_")[0])
    return f"{prefix}/{family}" if prefix else family


def _summary(rows: list[tuple[str, str, str, str]]) -> None:
    reasons = Counter((e, s, d.split(":")[0] + ": " + d.split(": ", 1)[-1][:70]) for e, _, s, d in rows if s != "ok")
    for exporter in dict.fromkeys(e for e, *_ in rows):
        statuses = Counter(s for e, _, s, _ in rows if e == exporter)
        counts = ", ".join(f"{s} {statuses[s]}" for s in ("ok", "wrong", "refused", "export", "build") if statuses[s])
        print(f"{exporter}: {sum(statuses.values())} models: {counts}")
    for (exporter, status, reason), n in reasons.most_common():
        print(f"  {n:3} x {exporter}/{status}: {reason}")


def _table(rows: list[tuple[str, str, str, str]]) -> None:
    """One markdown table per exporter: a row per family, what did not import and why."""
    for exporter in dict.fromkeys(e for e, *_ in rows):
        print(f"\n{exporter}\n\n| family | models | ok | not ok: reason |\n|---|---|---|---|")
        families: dict[str, list] = {}
        for e, name, status, detail in rows:
            if e == exporter:
                families.setdefault(_family(name), []).append((name, status, detail))
        for family, members in sorted(families.items(), key=lambda kv: ("/" in kv[0], kv[0])):
            names = ", ".join(n.split("/")[-1] for n, *_ in members)
            why: dict[str, list[str]] = {}          # one reason, the models it stopped
            for n, s, d in members:
                if s != "ok":
                    why.setdefault(f"{s}: {d[:100]}", []).append(n.split("/")[-1])
            bad = "; ".join(f"{', '.join(ns)} ({reason})" for reason, ns in why.items())
            ok = sum(s == "ok" for _, s, _ in members)
            print(f"| {family} | {names} | {ok}/{len(members)} | {bad or '-'} |")


def _read_logs(paths: list[str]) -> list[tuple[str, str, str, str]]:
    """Result lines of earlier runs; a later line for the same exporter and model wins."""
    found: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            m = LINE.match(line)
            if m:
                found[m.group(1), m.group(2)] = m.groups()
    return list(found.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exporters", default="legacy,dynamo",
                        help="legacy, dynamo (batch fixed at 1), dynamo-dyn (batch dynamic)")
    parser.add_argument("--models", help="comma-separated torchvision model names, timm/<name> or transformers/<name> "
                                         "(default: all torchvision classifiers)")
    parser.add_argument("--timm", action="store_true", help=f"also timm: {', '.join(TIMM_MODELS)}")
    parser.add_argument("--transformers", action="store_true",
                        help=f"also transformers (tiny random configurations): {', '.join(TRANSFORMERS_MODELS)}")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--limit", type=int, help="only the first N torchvision models (0: none)")
    parser.add_argument("--verify", action="store_true",
                        help="also compare the IR interpreter with onnxruntime on a batch of 2")
    parser.add_argument("--table", nargs="+", metavar="LOG",
                        help="run nothing: read the result lines of earlier runs' output and print the "
                             "summary and a markdown table per exporter (docs/zoo.md)")
    args = parser.parse_args()
    if args.table:
        rows = _read_logs(args.table)
        _summary(rows)
        _table(rows)
        return
    sys.path.insert(0, str(ROOT / "tests"))
    import zoo

    tv = zoo.torchvision()
    names = args.models.split(",") if args.models else tv.models.list_models(module=tv.models)
    timm_names = [n.split("/", 1)[1] for n in names if n.startswith("timm/")]
    names = [n for n in names if "/" not in n]
    names = names[:args.limit] if args.limit is not None else names
    def px(name: str) -> int:
        return SIZE.get(name, 224 if name.startswith(FIXED_224) else args.size)

    cases = [(n, (lambda n=n: tv.models.get_model(n, weights=None, num_classes=10)), _images(px(n)))
             for n in names]
    timm_names += TIMM_MODELS if args.timm else []
    if timm_names:
        timm = zoo.timm()
        cases += [(f"timm/{n}", (lambda n=n: timm.create_model(n, pretrained=False, num_classes=10)),
                   _images(px(n))) for n in timm_names]
    tf_names = [n.split("/", 1)[1] for n in (args.models or "").split(",") if n.startswith("transformers/")]
    tf_names += list(TRANSFORMERS_MODELS) if args.transformers else []
    if tf_names:
        tf = zoo.transformers()
        for n in tf_names:
            config, model, kwargs = TRANSFORMERS_MODELS[n]
            build = (lambda c=config, m=model, kw=kwargs: _seeded(getattr(tf, m), getattr(tf, c)(**kw)))
            inputs = _images(kwargs["image_size"]) if "image_size" in kwargs else _tokens
            cases.append((f"transformers/{n}", build, inputs))
    rows = []
    for exporter in args.exporters.split(","):
        for name, build, inputs in cases:
            start = time.perf_counter()
            status, detail = _try(name.split("/")[-1], build, inputs, exporter, args.verify)
            rows.append((exporter, name, status, detail))
            print(f"{exporter:10} {name:32} {status:8} {time.perf_counter() - start:6.1f}s  {detail}", flush=True)
    print()
    _summary(rows)
    _table(rows)


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        sys.exit(1)
