"""The artifact as a format: a versioned manifest listing every file with its size and
SHA-256, verified by ``snnc run`` before anything is parsed; weights as raw binary arrays.

The issue's reproducers (a manifest pointing at ``/elsewhere/program.json``,
``../../../../etc/passwd``, ``/dev/zero``) run the real CLI under an audit hook: exit 2,
one line, the outside files' hashes unchanged, and the outside paths never opened."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from snnc.backends.loihi.run import run_loihi
from snnc.backends.sim import shape_inputs
from snnc.deploy import compile_model, load_artifact

from artifact_helpers import one_error_line, sha, snnc, snnc_audited, spikes_input, tiny_net, write_net


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifact")
    net = write_net(root)
    x = spikes_input(root / "x.npy")
    done = snnc("compile", net, "-o", root / "art", "--input", root / "x.npy", "--no-simulate")
    assert done.returncode == 0, done.stderr
    c = compile_model(tiny_net(), "loihi2", inputs={"x": x}, simulate=False)
    return root, c, x


def _copy(built, tmp_path):
    root = built[0]
    shutil.copytree(root / "art", tmp_path / "art", symlinks=True)
    return tmp_path / "art"


def _edit(art, fn):
    manifest = json.loads((art / "manifest.json").read_text())
    fn(manifest)
    (art / "manifest.json").write_text(json.dumps(manifest))


def test_manifest_lists_every_file_with_size_and_sha256(built):
    art = built[0] / "art"
    manifest = json.loads((art / "manifest.json").read_text())
    assert manifest["format"] == "snnc-loihi-artifact" and manifest["version"] == 2
    assert manifest["written_by"] == "snnc"
    on_disk = {p.name for p in art.iterdir()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk >= {"program.json", "weights.bin", "mapping.json"}
    for name, entry in manifest["files"].items():
        data = (art / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, name
    assert set(manifest["roles"].values()) <= on_disk


def test_weights_are_binary_within_1_2x_of_the_raw_quantised_bytes(built):
    root, c, _ = built
    art = root / "art"
    raw = 0                       # each integer array at the fewest whole bytes holding its range
    for node in c.program.nodes:
        for arr in node.params.values():
            if arr.dtype.kind in "iu" and arr.size:
                lo, hi = int(arr.min()), int(arr.max())
                width = next(b for b in (1, 2, 4, 8) if -(1 << (8 * b - 1)) <= lo and hi < (1 << (8 * b - 1)))
                raw += arr.size * min(width, arr.dtype.itemsize)
            else:
                raw += arr.nbytes
    assert raw > 0
    assert (art / "weights.bin").stat().st_size <= 1.2 * raw
    doc = json.loads((art / "program.json").read_text())
    assert all(not n["params"] for n in doc["nodes"])          # no base64 in the JSON
    assert len(doc["weights"]["arrays"]) == sum(len(n.params) for n in c.program.nodes)


def test_loaded_program_equals_the_compiled_one(built):
    root, c, x = built
    manifest, program, mapping = load_artifact(root / "art")
    assert [n.name for n in program.nodes] == [n.name for n in c.program.nodes]
    for node in c.program.nodes:
        got = program.node(node.name)
        assert got.op == node.op and got.attrs == node.attrs
        assert got.params.keys() == node.params.keys()
        for k, v in node.params.items():
            assert got.params[k].dtype == v.dtype and np.array_equal(got.params[k], v), (node.name, k)
    assert manifest["cores"] == len(mapping["cores"])
    out = root / "out.npz"
    done = snnc("run", root / "art", "--input", root / "x.npy", "-o", out)
    assert done.returncode == 0, done.stderr
    want = run_loihi(c.program, shape_inputs(c.program, x, None)).outputs
    with np.load(out) as got:
        for name, arr in want.items():
            np.testing.assert_array_equal(got[name], arr)


@pytest.mark.parametrize("where", ["absolute", "dotdot", "devzero"])
def test_manifest_cannot_point_outside_the_artifact(built, tmp_path, where):
    art = _copy(built, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(art / "program.json", elsewhere / "program.json")    # a valid program: would run
    target, role = {"absolute": (str(elsewhere / "program.json"), "program"),
                    "dotdot": ("../../../../etc/passwd", "program"),
                    "devzero": ("/dev/zero", "weights")}[where]
    real = {"absolute": elsewhere / "program.json", "dotdot": "/etc/passwd", "devzero": None}[where]
    before = sha(real) if real else None

    def point(m):
        m["roles"][role] = target
        m["files"][target] = {"size": os.path.getsize(real) if real else 0,
                              "sha256": before or hashlib.sha256(b"").hexdigest()}
    _edit(art, point)
    done, opened = snnc_audited(tmp_path / "log.json", "run", art, timeout=30)
    line = one_error_line(done)
    assert "not a plain name" in line and target in line
    if real:
        assert sha(real) == before
        assert not any(os.path.realpath(p) == os.path.realpath(real) for p in opened if os.path.isabs(p))
    assert not any(p in ("/dev/zero", "/etc/passwd") or "passwd" in p or "elsewhere" in p for p in opened)


def test_old_style_manifest_pointing_elsewhere_is_refused_by_version(built, tmp_path):
    art = _copy(built, tmp_path)
    outside = tmp_path / "program.json"
    shutil.copy(art / "program.json", outside)
    (art / "manifest.json").write_text(json.dumps({
        "format": "snnc-loihi-artifact", "version": 1, "model": "m", "target": "loihi2",
        "files": {"program": str(outside), "mapping": "mapping.json"}}))
    done, opened = snnc_audited(tmp_path / "log.json", "run", art)
    assert "artifact version 1 is not supported" in one_error_line(done)
    assert str(outside) not in opened


def test_symlink_out_of_the_artifact_is_refused_unread(built, tmp_path):
    art = _copy(built, tmp_path)
    outside = tmp_path / "outside.json"
    shutil.copy(art / "program.json", outside)        # same bytes: the hash would match
    (art / "program.json").unlink()
    (art / "program.json").symlink_to(outside)
    before = sha(outside)
    done, opened = snnc_audited(tmp_path / "log.json", "run", art)
    line = one_error_line(done)
    assert "program.json is a symbolic link" in line
    assert sha(outside) == before and str(outside) not in opened


def test_fifo_and_manifest_link_to_dev_zero_are_refused(built, tmp_path):
    art = _copy(built, tmp_path)
    (art / "mapping.json").unlink()
    os.mkfifo(art / "mapping.json")                    # opening it to read would block
    assert "mapping.json is not a regular file" in one_error_line(snnc("run", art, timeout=30))
    (art / "manifest.json").unlink()
    (art / "manifest.json").symlink_to("/dev/zero")
    assert "manifest.json is a symbolic link" in one_error_line(snnc("run", art, timeout=30))


@pytest.mark.parametrize("damage", ["flip", "truncate", "missing"])
def test_tampered_weights_are_refused_by_name(built, tmp_path, damage):
    art = _copy(built, tmp_path)
    w = art / "weights.bin"
    data = bytearray(w.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        w.write_bytes(bytes(data))
    elif damage == "truncate":
        w.write_bytes(bytes(data[:-8]))
    else:
        w.unlink()
    line = one_error_line(snnc("run", art))
    assert "weights.bin" in line
    assert {"flip": "SHA-256 differs", "truncate": "the manifest says", "missing": "missing"}[damage] in line


def test_checksums_are_verified_before_anything_is_parsed(built, tmp_path):
    art = _copy(built, tmp_path)
    size = (art / "program.json").stat().st_size
    (art / "program.json").write_text("{" + "x" * (size - 1))    # same size; a parser would fail first
    line = one_error_line(snnc("run", art))
    assert "program.json" in line and "SHA-256 differs" in line and "JSON" not in line


@pytest.mark.parametrize("fmt, version, says", [("onnx-model", 2, "not an snnc Loihi artifact"),
                                                ("snnc-loihi-artifact", 99, "artifact version 99 is not supported")])
def test_foreign_or_future_artifacts_are_refused(built, tmp_path, fmt, version, says):
    art = _copy(built, tmp_path)
    _edit(art, lambda m: m.update(format=fmt, version=version))
    assert says in one_error_line(snnc("run", art))


_ODD = [None, True, -1, 2**70, 1.5, "", "x", "../x", "/dev/zero", [], {}, [1, "a"], {"a": 1}]


def _mutate(rng, doc):
    """One seeded mutation of a JSON document: a value swapped for an odd one, a key
    deleted, or a list entry duplicated; returns a description."""
    path, node = [], doc
    while isinstance(node, (dict, list)) and node and rng.random() < 0.8:
        key = list(node)[rng.integers(len(node))] if isinstance(node, dict) else int(rng.integers(len(node)))
        path.append(key)
        if not isinstance(node[key], (dict, list)) or not node[key]:
            break
        node = node[key]
    if not path:
        return "nothing"
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    what = rng.integers(3)
    if what == 0:
        parent[path[-1]] = _ODD[rng.integers(len(_ODD))]
    elif what == 1 and isinstance(parent, dict):
        del parent[path[-1]]
    elif isinstance(parent, list):
        parent.append(parent[path[-1]])
    return str(path)


def test_mutated_manifests_and_weight_tables_never_escape_as_tracebacks(built, tmp_path):
    """300 seeded mutations, in process: load_artifact returns or raises SnncError, nothing
    else. Mutations of program.json are re-hashed into the manifest, so they reach the
    weights-table checks behind the checksums."""
    from snnc.ir.errors import SnncError

    art = _copy(built, tmp_path)
    manifest0 = (art / "manifest.json").read_text()
    program0 = (art / "program.json").read_text()
    rng = np.random.default_rng(17)
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(300):
        manifest, program = json.loads(manifest0), json.loads(program0)
        if i % 2:
            what = "program.json " + _mutate(rng, program["weights"]["arrays"] if rng.random() < 0.7 else program)
            data = json.dumps(program).encode()
            manifest["files"]["program.json"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        else:
            part = manifest if rng.random() < 0.3 else manifest["files" if rng.random() < 0.6 else "roles"]
            what = "manifest.json " + _mutate(rng, part)
            data = program0.encode()
        (art / "program.json").write_bytes(data)
        (art / "manifest.json").write_text(json.dumps(manifest))
        try:
            load_artifact(art)
            outcomes["loaded"] += 1
        except SnncError as err:
            assert "\n" not in str(err), what
            outcomes["refused"] += 1
        except Exception as err:  # noqa: BLE001 -- the point of the test
            pytest.fail(f"mutation {i} ({what}) escaped as {type(err).__name__}: {err}")
    print(f"\n300 mutated artifacts: {outcomes}")
    assert outcomes["refused"] > 100 and outcomes["loaded"] > 0
