"""Test support for the phone clients: a camera-sized photo, the Kotlin toolchain, a served model.

The Kotlin client's JVM core is compiled with the npm package ``kotlin-compiler`` (``make kotlin``
installs it under ``.tools/``) against Debian's JDK and jars (org.json as Android ships it,
metadata-extractor for EXIF on the JVM); tests that need them skip with a reason when absent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from dataset_tools.synthetic_styles import make_style_image

REPO = Path(__file__).resolve().parents[2]
COLLECTION = "styles"  # the tiny model's generated collection, as the client tests' server holds it
KOTLIN_DIR = REPO / "mobile_sdk_stubs" / "kotlin"
# The JVM core, the JVM codec and the test driver; kotlin/android/ needs android.jar (see its header).
KOTLIN_SOURCES = ("core", "jvm", "check")
DEBIAN_JARS = {
    "org.json (libandroid-json-java)": Path("/usr/share/java/com.android.json.jar"),
    "metadata-extractor (libmetadata-extractor-java)": Path("/usr/share/java/metadata-extractor.jar"),
    "xmpcore (libxmpcore-java)": Path("/usr/share/java/xmpcore.jar"),
}


def camera_photo(
    path: Path, base: Image.Image | None = None, *, orientation: int = 6, size: tuple[int, int] = (3024, 4032)
) -> Image.Image:
    """Write a 12 MP JPEG of ``base`` stored sideways with an EXIF orientation tag; return the upright picture.

    Fine stripes (5 px period) are laid over the picture: a resize that does not antialias
    turns them into coarse moiré, one that does averages them out.
    """
    if base is None:
        base = make_style_image("washes", np.random.default_rng(0), size=256)
    w, h = size
    upright = base.convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
    x = np.arange(w, dtype=np.float32)
    fine = np.round(40 * np.sin(2 * np.pi * x / 5.0)).astype(np.int16)[None, :, None]
    arr = np.clip(np.asarray(upright, np.int16) + fine, 0, 255).astype(np.uint8)
    upright = Image.fromarray(arr, "RGB")
    stored = {
        1: upright,
        3: upright.transpose(Image.Transpose.ROTATE_180),
        6: upright.transpose(Image.Transpose.ROTATE_90),
        8: upright.transpose(Image.Transpose.ROTATE_270),
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, "JPEG", quality=92, exif=exif.tobytes())
    return upright


def kotlin_toolchain() -> tuple[Path | None, str]:
    """(kotlinc, '') or (None, why not)."""
    candidates = [os.environ.get("ARTSNAP_KOTLINC"), REPO / ".tools/node_modules/kotlin-compiler/bin/kotlinc"]
    kotlinc = next((Path(c) for c in candidates if c and Path(c).is_file()), None)
    if kotlinc is None:
        return None, "kotlin-compiler is not installed: `make kotlin` installs it (npm) into .tools/"
    if shutil.which("java") is None or shutil.which("javac") is None:
        return None, "no JDK: `make kotlin` installs Debian's default-jdk-headless"
    missing = [name for name, jar in DEBIAN_JARS.items() if not jar.is_file()]
    if missing:
        return None, f"missing Debian jars {', '.join(missing)}: `make kotlin` installs them"
    return kotlinc, ""


def kotlin_lib(kotlinc: Path) -> Path:
    return kotlinc.resolve().parent.parent / "lib"


def compile_kotlin_client(kotlinc: Path) -> tuple[Path, list[Path]]:
    """Compile the JVM core + driver (cached by source hash): (client jar, runtime classpath)."""
    sources = sorted(p for d in KOTLIN_SOURCES for p in (KOTLIN_DIR / d).rglob("*.kt"))
    h = hashlib.sha256(str(kotlinc.resolve()).encode())
    for p in sources:
        h.update(p.relative_to(KOTLIN_DIR).as_posix().encode() + b"\0" + p.read_bytes())
    lib = kotlin_lib(kotlinc)
    deps = [*DEBIAN_JARS.values(), lib / "kotlinx-coroutines-core-jvm.jar"]
    build = Path(os.environ.get("ARTSNAP_KOTLIN_BUILD_DIR", REPO / ".tools" / "kotlin-build"))
    jar = build / f"artsnap-client-{h.hexdigest()[:16]}.jar"
    if not jar.is_file():
        build.mkdir(parents=True, exist_ok=True)
        tmp = jar.with_suffix(".tmp.jar")
        proc = subprocess.run(
            [str(kotlinc), *map(str, sources), "-cp", os.pathsep.join(map(str, deps)), "-d", str(tmp)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0:
            raise AssertionError(f"kotlinc failed:\n{proc.stderr[-6000:]}")
        tmp.replace(jar)
    return jar, [jar, *deps, lib / "kotlin-stdlib.jar"]
