"""Hostile images cannot make one decode take a worker's memory.

Each file is decoded (and preprocessed to the network's input, where the 20000x1 PNG used to
ask for 4 GB) in a fresh Python process; the process's peak resident size after a warm-up
decode is its "idle", and the peak after the hostile file minus that is what the file cost.
The files are small on disk (flat colours compress to a few hundred KB) and are written by
streaming zlib, so building them costs this test process nothing either.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO_ROOT, flat_png, png_chunk

#: The target for any single upload within the limits (issue 12).
BUDGET_MB = 300

_PROBE = r"""
import io, json, resource, sys
from PIL import Image
from dataset_tools.images import ImageDecodeError, decode_image
from edge_models.preprocessing import DEFAULT_SPEC

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

# Cap the address space so that a regression fails here instead of swapping the machine.
cap = 3 * 1024 ** 3
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
warm = io.BytesIO()
Image.new("RGBA", (400, 300), (1, 2, 3, 100)).save(warm, "PNG")
DEFAULT_SPEC.to_array(decode_image(warm.getvalue(), min_side=360).image)
data = open(sys.argv[1], "rb").read()
idle = peak_mb()
try:
    image = decode_image(data, min_side=360).image
    DEFAULT_SPEC.to_array(image)
    out = {"decoded": list(image.size)}
except ImageDecodeError as exc:
    out = {"refused": exc.code}
except MemoryError:
    out = {"memory_error": True}
out["extra_mb"] = peak_mb() - idle
print(json.dumps(out))
"""


def _encoded(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _palette_with_transparency() -> bytes:
    plte = png_chunk(b"PLTE", bytes([200, 30, 30, 10, 200, 10]))
    trns = png_chunk(b"tRNS", bytes([0, 255]))
    return plte + trns


HOSTILE = {
    # name: (builder, what must happen)
    "20000x1 grey PNG (141 bytes)": (lambda: flat_png(20000, 1, b"\xc8", colour_type=0), "refused"),
    "1x20000 RGB PNG": (lambda: flat_png(1, 20000, b"\xc8\x10\x10", colour_type=2), "refused"),
    "8000x8000 RGBA PNG": (lambda: flat_png(8000, 8000, b"\xc8\x64\x32\x80", colour_type=6), "refused"),
    "6000x6000 progressive JPEG": (
        lambda: _encoded(Image.new("RGB", (6000, 6000), (200, 100, 50)), "JPEG", progressive=True, subsampling=0),
        "refused",
    ),
    "6000x6000 RGBA PNG": (lambda: flat_png(6000, 6000, b"\xc8\x64\x32\x80", colour_type=6), "decoded"),
    "8000x5000 grey+alpha PNG": (lambda: flat_png(8000, 5000, b"\xc8\x80", colour_type=4), "decoded"),
    "8000x8000 palette PNG with transparency": (
        lambda: flat_png(8000, 8000, b"\x00", colour_type=3, extra=_palette_with_transparency()),
        "decoded",
    ),
    "8000x8000 16-bit grey PNG": (lambda: flat_png(8000, 8000, b"\x9c\x40", colour_type=0, bit_depth=16), "decoded"),
    "6000x4000 baseline JPEG": (
        lambda: _encoded(Image.new("RGB", (6000, 4000), (200, 100, 50)), "JPEG", quality=80),
        "decoded",
    ),
    "16000x800 RGB PNG (20:1)": (lambda: flat_png(16000, 800, b"\xc8\x10\x10", colour_type=2), "decoded"),
    "3000x3000 RGBA WebP": (
        lambda: _encoded(Image.new("RGBA", (3000, 3000), (200, 100, 50, 128)), "WEBP", lossless=True),
        "decoded",
    ),
}


#: Decoding these takes several seconds each on two busy cores: ``make test-all`` runs them.
SLOW = {
    "8000x5000 grey+alpha PNG",
    "8000x8000 palette PNG with transparency",
    "8000x8000 16-bit grey PNG",
    "6000x4000 baseline JPEG",
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in HOSTILE])
def test_one_decode_stays_within_the_memory_budget(name: str, tmp_path: Path) -> None:
    build, expected = HOSTILE[name]
    path = tmp_path / "upload"
    path.write_bytes(build())
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert expected in out, f"{name}: expected {expected}, got {out}"
    if expected == "refused":
        assert out["refused"] in ("too_large", "bad_dimensions"), out
    assert out["extra_mb"] <= BUDGET_MB, f"{name}: the decode took {out['extra_mb']:.0f} MB above idle"
