"""The HTML report renders in a real browser: Debian's headless Chromium loads the one
self-contained file, lays out the three plots (the page's own script measures each SVG
with getBBox and marks the body), and a screenshot is not blank.

Chromium comes from .ci/setup (apt). Outside CI the test skips without it; in CI
(``CI=true``) it must run."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest

from conftest import IN_CI
from sim_helpers import reference
from snnc.backends.energy import load_model
from snnc.backends.sim import simulate
from snnc.report import build_report, render

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if IN_CI:
            pytest.fail("chromium is missing in CI: .ci/setup installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def browse(tmp_path, page, *extra):
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    done = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def png_pixels(path):
    """RGB(A) rows of a non-interlaced 8-bit PNG (what Chromium writes), decoded here."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            channels = {2: 3, 6: 4}[color]
            assert depth == 8
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for r in range(height):
        f, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return np.frombuffer(b"".join(rows), np.uint8).reshape(height, width, channels)


def test_html_report_renders_its_plots_in_chromium(tmp_path):
    proto, graph = reference("spikingformer")
    x = np.random.default_rng(0).random((4, 2, 3, 16, 16), dtype=np.float32)
    report = build_report(graph, simulate(graph, x), load_model("45nm"))
    html = render(report, "html")
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "the page must not load anything"
    page = tmp_path / "report.html"
    page.write_text(html)
    dom = browse(tmp_path, page, "--dump-dom")
    assert re.search(r'<body[^>]*data-rendered="3"', dom), "the three charts were not laid out"
    bars = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in re.finditer(
        r'<svg[^>]*id="([\w-]+)"[^>]*data-bars="(\d+)"[^>]*data-rendered-width="(\d+)"', dom)}
    layers, neurons = len(report["layers"]), len(report["neurons"])
    assert bars["chart-firing-rate"][0] == neurons
    assert bars["chart-energy"][0] == 2 * layers          # an AC and a MAC segment per layer
    assert bars["chart-snn-ann"][0] == 3
    assert all(width > 100 for _, width in bars.values())
    shot = tmp_path / "shot.png"
    browse(tmp_path, page, f"--screenshot={shot}", "--window-size=1000,1400", "--hide-scrollbars")
    pixels = png_pixels(shot)[..., :3].reshape(-1, 3)
    colours = {tuple(c) for c in pixels[:: max(1, len(pixels) // 50000)]}
    assert (0xE6, 0x55, 0x0D) in colours and (0x2B, 0x8C, 0xBE) in colours     # MAC and AC bars drawn
