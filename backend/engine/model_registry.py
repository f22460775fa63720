"""The model registry: which classifier versions exist, which is active, where their files are.

Phones ask ``GET /v1/models/latest`` for the card and download URLs; ingest and search use
the active classifier to label items and queries. A model is registered from an exported
model folder (``model_card.json`` + files, see :mod:`edge_models.export`), and only files the
card lists can be downloaded, so a registry entry can never serve an arbitrary path.

**A version's files never change.** Registering copies the card's files (and the card and
``classifier.json``, which the server's classifier loads) into the server's own store,
``DATA_DIR/model-store/NAME/VERSION/`` (folders 0755, files 0644, so a server running as
another user reads them), and the SHA-256 the API serves is computed from those copies. An
export folder can then be re-exported, moved or deleted without phones noticing. A folder
whose files differ from an already registered version of the same model (a re-export: the
version comes from training, the bytes from the exporter) is registered as a **new version**,
``VERSION-r2``, ``-r3``, ..., because phones cache by version: serving new bytes under an old
version would fail every phone's hash check. Registering the very same files again only
(re)activates that version.

Each file is a *delivery* for one platform (``deliveries`` in the card, or derived from the
file key for cards that predate it), so ``/v1/models/latest?platform=android|ios`` can hand a
phone its file, minimum runtime and hash.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from edge_models.model_card import file_sha256

from .catalog.models import ModelVersion
from .catalog.store import Catalog
from .embedding_space import card_space, check_card_space

CLASSIFICATION = "classification"
STORE_DIR_NAME = "model-store"
#: Besides the files the card lists, what the server itself reads from a registered model.
SERVER_FILES = ("model_card.json", "classifier.json", "code_head.json")

PLATFORMS = ("android", "ios", "server")
#: The file a platform gets when it names no precision, best first. Android: the mixed int8
#: file (smallest; CPU/GPU delegates), iOS: fp16 (what the Neural Engine computes in). The
#: full-integer file (uint8 in and out, for NPUs) is only handed out when asked for.
DEFAULT_PRECISIONS = {"android": ("int8", "fp16", "fp32"), "ios": ("fp16", "int8", "fp32"), "server": ("fp32",)}
_PLATFORM_OF_FORMAT = {"tflite": "android", "coreml": "ios", "onnx": "server"}
# Minimum runtimes for cards without ``deliveries``: the .tflite converter records
# min_runtime_version 2.0.0 in the files, Core ML files are converted for iOS 16
# (edge_models.export_coreml), the ONNX file for the ONNX Runtime the server pins.
_FALLBACK_RUNTIME = {
    "tflite": "TensorFlow Lite 2.0 / LiteRT runtime (Android)",
    "coreml": "iOS 16 / macOS 13 (Core ML 6)",
    "onnx": "ONNX Runtime 1.20",
}


class UnknownModel(LookupError):
    pass


class StaleModelFile(UnknownModel):
    """A file registered before the store existed was overwritten in its export folder."""


class NoDelivery(LookupError):
    """The model has no file for the platform/precision asked for; the message lists what it has."""


@dataclass(frozen=True)
class Delivery:
    """One downloadable file of a model, as a phone sees it."""

    key: str
    platform: str  # android | ios | server
    format: str  # tflite | coreml | onnx
    precision: str  # fp32 | fp16 | int8 | int8_full
    min_runtime: str | None = None
    purpose: str | None = None
    outputs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "format": self.format,
            "precision": self.precision,
            "min_runtime": self.min_runtime,
            "purpose": self.purpose,
            "outputs": list(self.outputs),
        }


@dataclass(frozen=True)
class RegisteredModel:
    id: int
    name: str
    version: str
    task: str
    active: bool
    card: dict[str, Any]
    path: Path
    created_at: str

    @property
    def files(self) -> dict[str, str]:
        return dict(self.card.get("files", {}))

    @property
    def sha256(self) -> dict[str, str]:
        return dict(self.card.get("file_sha256", {}))

    @property
    def immutable(self) -> bool:
        """True when the files live in the server's store (registered since the store exists)."""
        return bool(self.card.get("registry", {}).get("stored"))

    def file_path(self, key: str) -> Path:
        name = self.files.get(key)
        if name is None:
            raise UnknownModel(
                f"model {self.version} has no file {key!r}; it has {', '.join(sorted(self.files)) or 'none'}"
            )
        path = (self.path / name).resolve()
        if self.path.resolve() not in path.parents or not path.is_file():
            raise UnknownModel(f"file {key!r} of model {self.version} is missing on the server")
        if not self.immutable and _current_sha256(path) != self.sha256.get(key):
            # Registered before the store existed: served from the export folder, which a
            # re-export overwrote. Never hand out bytes that fail the hash phones check.
            raise StaleModelFile(
                f"file {key!r} of model {self.version} changed since it was registered; "
                f"register it again (`artsnap models register {self.path}`): a re-export is a new version"
            )
        return path

    def deliveries(self) -> dict[str, Delivery]:
        return deliveries(self.card)

    def delivery(self, platform: str, precision: str | None = None) -> Delivery:
        """The file for ``platform`` (and ``precision``, else the platform's default)."""
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}")
        mine = {d.precision: d for d in self.deliveries().values() if d.platform == platform}
        wanted = (precision,) if precision else DEFAULT_PRECISIONS[platform]
        for p in wanted:
            if p in mine:
                return mine[p]
        have = ", ".join(f"{d.key} ({d.platform} {d.precision})" for d in self.deliveries().values()) or "none"
        raise NoDelivery(
            f"model {self.version} has no {platform} file"
            + (f" in precision {precision!r}" if precision else "")
            + f"; it has {have}"
        )


def deliveries(card: dict[str, Any]) -> dict[str, Delivery]:
    """Every file's delivery: the card's ``deliveries`` entry, or one derived from the file key."""
    explicit = card.get("deliveries") or {}
    out: dict[str, Delivery] = {}
    for key in sorted(card.get("files", {})):
        fmt, _, precision = key.partition("_")
        derived = {
            "platform": _PLATFORM_OF_FORMAT.get(fmt, "server"),
            "format": fmt,
            "precision": precision or "fp32",
            "min_runtime": _FALLBACK_RUNTIME.get(fmt),
            "purpose": None,
            "outputs": _outputs(card, fmt),
        }
        entry = explicit.get(key)
        given: dict[str, Any] = entry if isinstance(entry, dict) else {}
        merged = {**derived, **{k: v for k, v in given.items() if k in derived and v is not None}}
        out[key] = Delivery(key=key, **merged)
    return out


def _outputs(card: dict[str, Any], fmt: str) -> list[str]:
    multi = bool((card.get("extra") or {}).get("multi_label"))
    if fmt == "coreml" and not multi:
        return ["label", "label_probs", "embedding"]  # a Core ML classifier's outputs
    return [str(o.get("name")) for o in card.get("outputs") or [] if isinstance(o, dict)]


def model_space(model: RegisteredModel) -> str | None:
    """The embedding space of the model's ``embedding`` output (None when the card declares none)."""
    return card_space(model.card)


def _row(m: ModelVersion) -> RegisteredModel:
    return RegisteredModel(
        id=m.id,
        name=m.name,
        version=m.version,
        task=m.task,
        active=bool(m.active),
        card=dict(m.card or {}),
        path=Path(m.path or "."),
        created_at=m.created_at.isoformat(),
    )


def store_dir(data_dir: str | Path) -> Path:
    """Where registered models' files live: ``DATA_DIR/model-store``."""
    return Path(data_dir) / STORE_DIR_NAME


def register_model_dir(
    catalog: Catalog, model_dir: str | Path, *, store: str | Path, activate: bool = True
) -> RegisteredModel:
    """Register an exported model folder (reads its ``model_card.json``), copying it into ``store``.

    Returns the registered version: the card's, or ``VERSION-rN`` when that version is already
    registered with other bytes (see the module docstring).
    """
    model_dir = Path(model_dir).resolve()
    card_path = model_dir / "model_card.json"
    if not card_path.is_file():
        raise FileNotFoundError(
            f"{model_dir} has no model_card.json; run `artsnap export-classifier {model_dir}` first"
        )
    card = json.loads(card_path.read_text())
    files: dict[str, str] = dict(card.get("files", {}))
    for key, name in files.items():
        if Path(name).name != name:
            raise ValueError(f"model card file {key!r} must be a plain file name, not {name!r}")
    missing = [k for k, name in files.items() if not (model_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"model card lists files that are missing in {model_dir}: {', '.join(missing)}")
    check_card_space(card)  # refuses a model that claims the server's embeddings but differs
    hashes = {k: file_sha256(model_dir / name) for k, name in files.items()}
    # Single- and multi-label classifiers are one product ("the phone's labeller"); the card
    # keeps the precise task.
    task = CLASSIFICATION if "classification" in str(card.get("task", CLASSIFICATION)) else str(card["task"])
    name, base = str(card["name"]), str(card["version"])

    version = _free_version(catalog, name, base, hashes)
    existing = _find(catalog, name, version)
    if existing is not None and existing.immutable:
        if activate:
            catalog.register_model(name, version, task, existing.card, str(existing.path), activate=True)
        return get_model(catalog, version=version, model_id=existing.id)

    target = _copy_into_store(model_dir, [*files.values(), *SERVER_FILES], Path(store), name, version)
    served = {k: file_sha256(target / n) for k, n in files.items()}  # the hashes of the files served
    if served != hashes:
        shutil.rmtree(target, ignore_errors=True)
        raise OSError(f"{model_dir} changed while it was being registered; register it again")
    card["file_sha256"] = served
    card["registry"] = {"stored": True, "source": str(model_dir), "card_version": base}
    mid = catalog.register_model(name, version, task, card, str(target), activate=activate)
    return get_model(catalog, version=version, model_id=mid)


def _find(catalog: Catalog, name: str, version: str) -> RegisteredModel | None:
    with catalog.session() as s:
        m = s.scalar(select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version))
        return _row(m) if m else None


def _free_version(catalog: Catalog, name: str, base: str, hashes: dict[str, str]) -> str:
    """``base`` if unused or registered with these very files; else the next ``base-rN``."""
    n = 1
    while True:
        version = base if n == 1 else f"{base}-r{n}"
        found = _find(catalog, name, version)
        if found is None or found.sha256 == hashes:
            return version
        n += 1


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", part).lstrip(".") or "_"


def _copy_into_store(src: Path, names: list[str], store: Path, model: str, version: str) -> Path:
    """Copy ``names`` (those present) from ``src`` to ``store/model/version``, world-readable."""
    parent = store / _safe(model)
    parent.mkdir(parents=True, exist_ok=True)
    for d in (store, parent):
        d.chmod(0o755)
    target = parent / _safe(version)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{_safe(version)}."))
    try:
        tmp.chmod(0o755)
        for name in dict.fromkeys(names):
            if (src / name).is_file():
                shutil.copyfile(src / name, tmp / name)
                (tmp / name).chmod(0o644)
        if target.exists():  # left by a registration that never reached the catalog
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


_hash_lock = threading.Lock()
_hash_memo: dict[tuple[str, int, int], str] = {}


def _current_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered per (path, size, mtime) so a download does not rehash."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        if key in _hash_memo:
            return _hash_memo[key]
    digest = file_sha256(path)
    with _hash_lock:
        _hash_memo[key] = digest
    return digest


def list_models(catalog: Catalog, task: str | None = None) -> list[RegisteredModel]:
    with catalog.session() as s:
        q = select(ModelVersion).order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())
        if task:
            q = q.where(ModelVersion.task == task)
        return [_row(m) for m in s.scalars(q)]


def active_model(catalog: Catalog, task: str = CLASSIFICATION) -> RegisteredModel | None:
    with catalog.session() as s:
        m = s.scalar(
            select(ModelVersion)
            .where(ModelVersion.task == task, ModelVersion.active.is_(True))
            .order_by(ModelVersion.id.desc())
        )
        return _row(m) if m else None


def get_model(catalog: Catalog, *, version: str, model_id: int | None = None) -> RegisteredModel:
    with catalog.session() as s:
        q = select(ModelVersion)
        q = q.where(ModelVersion.id == model_id) if model_id is not None else q.where(ModelVersion.version == version)
        m = s.scalar(q.order_by(ModelVersion.id.desc()))
        if m is None:
            raise UnknownModel(f"no model with version {version!r}")
        return _row(m)
