"""Shared pytest fixtures.

Tests that need the data sets in ``../shared`` ask for the ``shared_datasets`` fixture;
it skips with a reason when the folder is absent, so the suite runs on any clone.
"""

from __future__ import annotations

import glob
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _main_checkout(root: Path) -> Path | None:
    """The main checkout of a ``git worktree`` (its ``.git`` file names ``<main>/.git/worktrees/<name>``)."""
    git = root / ".git"
    if not git.is_file():
        return None
    text = git.read_text(encoding="utf-8").strip()
    gitdir = Path(text.removeprefix("gitdir:").strip()) if text.startswith("gitdir:") else None
    return gitdir.parent.parent.parent if gitdir is not None and gitdir.parent.name == "worktrees" else None


def _find_shared_dir() -> Path:
    """``$ARTSNAP_SHARED_DIR``, else ``../shared`` beside this checkout, or beside the main
    checkout when this is a git worktree (so tests run from a worktree see the data too)."""
    if os.environ.get("ARTSNAP_SHARED_DIR"):
        return Path(os.environ["ARTSNAP_SHARED_DIR"])
    main = _main_checkout(REPO_ROOT)
    for root in (REPO_ROOT, main):
        if root is not None and (root.parent / "shared").is_dir():
            return root.parent / "shared"
    return REPO_ROOT.parent / "shared"


SHARED_DIR = _find_shared_dir()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared data folder {SHARED_DIR} is absent (set ARTSNAP_SHARED_DIR to use another)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def shared_datasets(shared_dir: Path) -> Path:
    path = shared_dir / "datasets"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def wikiart_zip(shared_datasets: Path) -> Path:
    path = shared_datasets / "wikiart-styles-3500.zip"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def cifar_zip(shared_datasets: Path) -> Path:
    path = shared_datasets / "cifar10-jpeg.zip"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def europeana_fixtures(shared_dir: Path) -> Path:
    path = shared_dir / "fixtures" / "europeana"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


# ---------------------------------------------------------------------------------------
# The engine under test: one ONNX export per session, data folders per test.
#
# Exporting EfficientNet-Lite0 to ONNX takes ~15 s, so every Settings the tests build gets
# a ``models`` folder that is a link to one session-wide cache (``settings.models_dir`` is
# ``data_dir / "models"``). Set ARTSNAP_TEST_MODELS_DIR to keep that cache between runs.


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keep = os.environ.get("ARTSNAP_TEST_MODELS_DIR")
    path = Path(keep) if keep else tmp_path_factory.mktemp("models")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def embedding_model(models_dir: Path):
    """The exported ONNX embedding model (exported once per session), loaded in ONNX Runtime."""
    from edge_models.embedding_model import ensure_embedding_model
    from edge_models.runtime import OnnxModel

    path, card = ensure_embedding_model(models_dir)
    return OnnxModel.load(path, card)


def _link_models(data_dir: Path, models_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    link = data_dir / "models"
    if link.is_symlink() or link.exists():
        if link.is_symlink() and link.resolve() == models_dir.resolve():
            return
        if link.is_symlink() or link.is_file():
            link.unlink()
        else:
            shutil.rmtree(link)
    link.symlink_to(models_dir.resolve(), target_is_directory=True)


@pytest.fixture
def make_settings(tmp_path: Path, models_dir: Path, embedding_model) -> Callable[..., object]:
    """``make_settings(data_dir=None, **overrides)`` → Settings whose models folder is the shared cache."""
    from backend.config import Settings

    def make(data_dir: Path | None = None, **overrides: object) -> Settings:
        data_dir = Path(data_dir) if data_dir is not None else tmp_path / "data"
        _link_models(data_dir, models_dir)
        return Settings(data_dir=data_dir, **overrides)

    return make


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory: pytest.TempPathFactory):
    """The project's generated demo collection: 8 families × 6 images + 2 deliberate duplicates."""
    from dataset_tools.demo import generate_demo_collection

    return generate_demo_collection(tmp_path_factory.mktemp("demo-source"), per_family=6, size=192, seed=0)


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, embedding_model, demo_source) -> Path:
    """A data folder with the demo collection ingested as ``demo``. Treat as read-only:
    tests that write copy it first (``writable_demo``)."""
    from backend.config import Settings
    from backend.engine.services import Engine

    data_dir = tmp_path_factory.mktemp("demo-data")
    _link_models(data_dir, models_dir)
    eng = Engine.open(Settings(data_dir=data_dir))
    try:
        summary = eng.ingest.ingest(demo_source.out_dir, "demo")
        assert not summary.failed, summary.failed
    finally:
        eng.close()
    return data_dir


@pytest.fixture(scope="session")
def demo_engine(demo_data_dir: Path):
    """An Engine over the shared demo data folder, for tests that only read."""
    from backend.config import Settings
    from backend.engine.services import Engine

    eng = Engine.open(Settings(data_dir=demo_data_dir))
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def code_model_dir(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, embedding_model, demo_source) -> Path:
    """A 16-bit retrieval-code head trained on the demo collection (``artsnap train-codes``), read-only."""
    from edge_models.train_codes import CodeTrainingOptions, train_codes

    out = tmp_path_factory.mktemp("codes") / "demo-codes"
    options = CodeTrainingOptions(cache_dir=models_dir, bits=16, aug_views=0, hidden=0, epochs=30, progress=False)
    train_codes(demo_source.out_dir, out, options)
    return out


@pytest.fixture
def writable_demo(tmp_path: Path, demo_data_dir: Path, models_dir: Path) -> Path:
    """A private copy of the demo data folder (catalog, indexes, media) a test may change."""
    target = tmp_path / "demo-copy"
    shutil.copytree(demo_data_dir, target, symlinks=True)
    _link_models(target, models_dir)
    return target


# ---------------------------------------------------------------------------------------
# A throwaway PostgreSQL cluster (Debian's server binaries), on a unix socket in a temp dir.


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    return Path(which).parent if which else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg://`` URL of a fresh database in a cluster started for this session."""
    bindir = _pg_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed; `make postgres` installs them")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'psycopg[binary]')")

    as_postgres: list[str] = []
    root = tempfile.mkdtemp(prefix="artsnap-pg-")
    if os.geteuid() == 0:
        # initdb refuses to run as root: hand the folder to the postgres user and run as it.
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, log = f"{root}/data", f"{root}/server.log"

    def run(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*as_postgres, *cmd], capture_output=True, text=True, timeout=120)

    res = run(str(bindir / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    if res.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed: {res.stderr.strip()[-500:]}")
    opts = f"-k {root} -c listen_addresses='' -F -c max_connections=30"
    res = run(str(bindir / "pg_ctl"), "-D", data, "-l", log, "-o", opts, "-w", "-t", "60", "start")
    if res.returncode != 0:
        detail = Path(log).read_text()[-800:] if Path(log).exists() else res.stderr
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start PostgreSQL: {detail.strip()}")
    try:
        res = run(str(bindir / "createdb"), "-h", root, "-U", "postgres", "artsnap_test")
        assert res.returncode == 0, res.stderr
        yield f"postgresql+psycopg://postgres@/artsnap_test?host={root}"
    finally:
        run(str(bindir / "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def paint_jpeg() -> Callable[..., bytes]:
    """``paint_jpeg(family, index, size=128, quality=90)`` → JPEG bytes of a generated painting.

    Families (see dataset_tools.demo.FAMILIES) look nothing alike; indexes within one vary.
    """
    import io

    from dataset_tools.demo import paint

    def make(family: str, index: int, *, size: int = 128, quality: int = 90) -> bytes:
        buf = io.BytesIO()
        paint(family, index, size=size, seed=1).save(buf, "JPEG", quality=quality)
        return buf.getvalue()

    return make


@pytest.fixture(scope="session")
def assert_consistent() -> Callable[..., None]:
    """``assert_consistent(engine, collection)``: catalog states and every saved index agree.

    Every ``indexed`` item is in every descriptor's index (as saved on disk), no index holds
    an id without an ``indexed`` item, and nothing is left ``pending``.
    """
    import numpy as np

    from backend.engine.index_kinds import open_index

    def check(engine, collection: str) -> None:
        cid = engine.catalog.collection_id(collection)
        indexed = set(engine.catalog.ids_with_status(cid, "indexed"))
        assert engine.catalog.ids_with_status(cid, "pending") == []
        for name in engine.descriptors:
            path = engine.index_store.path(cid, name)
            on_disk = open_index(path, engine.index_store._meta(name))
            ids = on_disk.ids()
            assert len(ids) == len(np.unique(ids)), f"{name}: an id is in the index twice"
            assert set(on_disk.stored_ids().tolist()) == indexed, f"{name}: a part of the index keeps stale vectors"
            assert set(ids.tolist()) == indexed, f"{name} index and catalog disagree"

    return check


@pytest.fixture(scope="session")
def bomb_png() -> bytes:
    """A real decompression bomb: a valid ~140 KB PNG that decodes to 12 000 × 12 000 pixels
    (144 MP, over the 64 MP default limit, under Pillow's own bomb check)."""
    import struct
    import zlib

    width = height = 12_000

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + one grey byte per pixel
    block = row * 500
    parts = [comp.compress(block) for _ in range(height // 500)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def flat_png(
    width: int, height: int, pixel: bytes, *, colour_type: int, bit_depth: int = 8, extra: bytes = b""
) -> bytes:
    """A valid PNG of one colour, built without holding (or compressing) every row.

    A block of rows is deflated once and ended with a full flush, which resets the
    compressor, so the same bytes may be repeated for every further block; the stream ends
    with an empty final block and the Adler-32 of all the rows, as zlib requires.
    """
    row = b"\x00" + pixel * width
    block_rows = max(1, min(height, (1 << 20) // len(row)))
    block = row * block_rows
    full, rest = divmod(height, block_rows)
    comp = zlib.compressobj(9)
    first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.compress(row * rest) + comp.flush(zlib.Z_FULL_FLUSH) if rest else b""
    adler = 1
    for _ in range(full):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(row * rest, adler)
    stream = first + again * (full - 1) + tail + b"\x03\x00" + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b"")
    )


@pytest.fixture
def fake():
    """The local fake of the Europeana / WITH APIs on a loopback port (built-in records)."""
    from europeana_sync.fake import FakeServer

    with FakeServer() as server:
        yield server


@pytest.fixture
def clock():
    """A manual clock for the retrying HTTP layer, so tests never sleep."""
    from europeana_sync.fake.testing import ManualClock

    return ManualClock()


# ---------------------------------------------------------------------------------------
# A phone model: the tiny test backbone trained on a generated 3-style collection, exported
# once per session as every client needs it (ONNX for the server, TFLite fp32/fp16 for
# Android, Core ML fp16 for iOS). Tests copy model_dir before changing anything in it.


@pytest.fixture(scope="session")
def tiny_phone_model(tmp_path_factory: pytest.TempPathFactory):
    """``(collection, train_result)`` of an exported tiny classifier (see tests/models/edge_support.py)."""
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is needed to export and run .tflite files")
    pytest.importorskip("coremltools", reason="coremltools is needed to export the Core ML file")
    from dataset_tools.synthetic_styles import write_style_folder
    from edge_models.export import export_models
    from edge_models.train import TrainingOptions, train_classifier
    from tests.models.edge_support import TINY_BACKBONE, register_tiny_backbone

    register_tiny_backbone()
    root = tmp_path_factory.mktemp("phone-model")
    coll = write_style_folder(root / "styles", per_class=16, seed=3)
    result = train_classifier(
        coll.root,
        root / "model",
        TrainingOptions(cache_dir=root / "cache", backbone=TINY_BACKBONE, progress=False, epochs=60, aug_views=1),
    )
    export_models(result.model_dir, formats=("onnx", "tflite", "coreml"), quantize=("fp32", "fp16"), progress=False)
    return coll, result
