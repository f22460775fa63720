"""The model registry: which classifier versions exist, which is active, where their files are.

Phones ask ``GET /v1/models/latest`` for the card and download URLs; ingest and search use
the active classifier to label items and queries. A model is registered from an exported
model folder (``model_card.json`` + files, see :mod:`edge_models.export`), and only files the
card lists can be downloaded, so a registry entry can never serve an arbitrary path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from edge_models.model_card import file_sha256

from .catalog.models import ModelVersion
from .catalog.store import Catalog

CLASSIFICATION = "classification"


class UnknownModel(LookupError):
    pass


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

    def file_path(self, key: str) -> Path:
        name = self.files.get(key)
        if name is None:
            raise UnknownModel(
                f"model {self.version} has no file {key!r}; it has {', '.join(sorted(self.files)) or 'none'}"
            )
        path = (self.path / name).resolve()
        if self.path.resolve() not in path.parents or not path.is_file():
            raise UnknownModel(f"file {key!r} of model {self.version} is missing on the server")
        return path


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


def register_model_dir(catalog: Catalog, model_dir: str | Path, *, activate: bool = True) -> RegisteredModel:
    """Register an exported model folder (reads its ``model_card.json``)."""
    model_dir = Path(model_dir).resolve()
    card_path = model_dir / "model_card.json"
    if not card_path.is_file():
        raise FileNotFoundError(
            f"{model_dir} has no model_card.json; run `artsnap export-classifier {model_dir}` first"
        )
    card = json.loads(card_path.read_text())
    files = card.get("files", {})
    missing = [k for k, name in files.items() if not (model_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"model card lists files that are missing in {model_dir}: {', '.join(missing)}")
    card["file_sha256"] = {k: file_sha256(model_dir / name) for k, name in files.items()}
    # Single- and multi-label classifiers are one product ("the phone's labeller"); the card
    # keeps the precise task.
    task = CLASSIFICATION if "classification" in str(card.get("task", CLASSIFICATION)) else str(card["task"])
    mid = catalog.register_model(card["name"], card["version"], task, card, str(model_dir), activate=activate)
    return get_model(catalog, version=card["version"], model_id=mid)


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
