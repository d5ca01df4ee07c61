"""Reading and writing ONNX files: atomic writes, external data, one-line errors."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import onnx
import onnx.checker
from google.protobuf.message import DecodeError

from snnc.files import atomic_write, temp_prefix
from snnc.ir.errors import SnncError

# protobuf refuses to serialise a single message past 2 GiB; larger models keep their
# weights in an external data file next to the .onnx (ONNX's own convention).
_PROTO_LIMIT = 2**31 - 1


def save_model(proto: onnx.ModelProto, path: str | os.PathLike) -> None:
    """Write ``proto`` to ``path`` atomically (temp file in the same folder + rename).

    Models over 2 GB are written with their tensors in ``<name>.data`` beside the file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if proto.ByteSize() < _PROTO_LIMIT:
        atomic_write(path, proto.SerializeToString())
        return
    data_name = path.name + ".data"
    tmp_dir = Path(tempfile.mkdtemp(dir=path.parent, prefix=temp_prefix(path)))
    try:
        onnx.save_model(proto, tmp_dir / path.name, save_as_external_data=True,
                        all_tensors_to_one_file=True, location=data_name, size_threshold=1024)
        os.replace(tmp_dir / data_name, path.parent / data_name)
        os.replace(tmp_dir / path.name, path)
    finally:
        for leftover in tmp_dir.iterdir():
            leftover.unlink()
        tmp_dir.rmdir()


def load_model(path: str | os.PathLike) -> onnx.ModelProto:
    """Read an ONNX file (and its external data), or raise a one-line :class:`SnncError`."""
    path = Path(path)
    if not path.exists():
        raise SnncError(f"{path}: no such file")
    if path.is_dir():
        raise SnncError(f"{path} is a directory; pass an .onnx file")
    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError, OSError) as err:
        raise SnncError(f"{path}: not a readable ONNX file ({_first_line(err)}); "
                        "re-export it or check that it was copied whole") from err
    if not proto.HasField("graph") or not proto.opset_import:
        raise SnncError(f"{path}: not an ONNX model (no graph or no opset); re-export it")
    bad = _undecodable_text(proto)
    if bad:
        raise SnncError(f"{path}: field {bad} is not valid UTF-8 text; the file is corrupt (re-export it)")
    try:
        onnx.external_data_helper.load_external_data_for_model(proto, str(path.parent))
    except (OSError, ValueError, onnx.checker.ValidationError) as err:
        raise SnncError(f"{path}: external data missing, unreadable or outside the model's folder "
                        f"({_first_line(err)}); keep the .data file next to the .onnx file") from err
    return proto


def _undecodable_text(message, where: str = "model") -> str | None:
    """The first string field of ``message`` (recursively) that protobuf could not decode
    as UTF-8 -- ONNX's proto2 strings then come back as ``bytes``, and a flipped bit in an
    op type would reach onnx's C++ as the wrong type -- or None. Bytes fields (raw_data,
    string tensors) are not text and are skipped."""
    from google.protobuf.descriptor import FieldDescriptor

    for desc, value in message.ListFields():
        repeated = getattr(desc, "is_repeated", None)
        if repeated is None:                # protobuf < 5
            repeated = desc.label == FieldDescriptor.LABEL_REPEATED
        values = value if repeated else [value]
        if desc.type == FieldDescriptor.TYPE_STRING:
            if any(not isinstance(v, str) for v in values):
                return f"{where}.{desc.name}"
        elif desc.type == FieldDescriptor.TYPE_MESSAGE:
            for k, v in enumerate(values):
                found = _undecodable_text(v, f"{where}.{desc.name}" + (f"[{k}]" if len(values) > 1 else ""))
                if found:
                    return found
    return None



def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
