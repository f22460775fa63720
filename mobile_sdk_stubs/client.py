"""HTTP client for the artsnap API: what a phone app does, in Python.

- ``latest_model``: poll ``GET /v1/models/latest?platform=...``; the answer's ``delivery``
  names the file for this platform. The last answer's ``ETag`` goes back as
  ``If-None-Match``, so an unchanged model costs a 304 and no body.
- ``download_model``: download that file once per version into ``dest/<version>/`` and
  verify its SHA-256 before it replaces anything (a file that does not match is refused and
  deleted).
- ``search_photo``: upload the photo upright and at most 1 024 px on its long side
  (:mod:`.photos`), optionally with the labels the phone's classifier gave.
- ``search_embedding``: send only the on-device embedding *and the embedding space it is in*
  (the photo never leaves the phone); the server refuses a vector from another model.

Every call is a coroutine: the blocking HTTP work runs on a worker thread
(``asyncio.to_thread``), so an app's event loop never waits on the network, as the Kotlin
client runs its calls on ``Dispatchers.IO`` and the Swift client uses ``URLSession``'s async API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from edge_models.model_card import file_sha256

from .photos import prepare_upload


class ArtsnapError(RuntimeError):
    """The server answered with an error (or a download failed its check); ``code`` is machine-readable."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class DownloadedModel:
    version: str
    key: str
    path: Path
    card: dict[str, Any]  # the served card plus name, version and embedding_space

    @property
    def embedding_space(self) -> str | None:
        return self.card.get("embedding_space")


class ArtsnapClient:
    def __init__(self, base_url: str, *, session: requests.Session | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout
        self._latest: dict[tuple[str, str | None, str | None], tuple[str, dict[str, Any]]] = {}

    # -- plumbing -------------------------------------------------------------------------
    @staticmethod
    def _check(resp: requests.Response) -> requests.Response:
        if resp.status_code >= 400:
            try:
                err = resp.json()["error"]
                raise ArtsnapError(resp.status_code, err["code"], err["message"])
            except (ValueError, KeyError, TypeError):
                raise ArtsnapError(resp.status_code, "http_error", resp.text[:200]) from None
        return resp

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}{path}"

    # -- models ---------------------------------------------------------------------------
    async def latest_model(
        self, platform: str | None = "android", *, precision: str | None = None, task: str = "classification"
    ) -> dict[str, Any]:
        """The active model (with ``delivery`` for ``platform``); revalidated with its ETag."""
        return await asyncio.to_thread(self._latest_model, platform, precision, task)

    def _latest_model(self, platform: str | None, precision: str | None, task: str) -> dict[str, Any]:
        key = (task, platform, precision)
        params = {k: v for k, v in {"task": task, "platform": platform, "precision": precision}.items() if v}
        cached = self._latest.get(key)
        headers = {"If-None-Match": cached[0]} if cached else {}
        resp = self.session.get(self._url("/v1/models/latest"), params=params, headers=headers, timeout=self.timeout)
        if resp.status_code == 304 and cached:
            return cached[1]
        body: dict[str, Any] = self._check(resp).json()
        if resp.headers.get("ETag"):
            self._latest[key] = (resp.headers["ETag"], body)
        return body

    async def download_model(
        self,
        dest_dir: str | Path,
        *,
        platform: str = "android",
        precision: str | None = None,
        key: str | None = None,
        model: dict[str, Any] | None = None,
    ) -> DownloadedModel:
        """Download this platform's file of the latest (or given) model into ``dest_dir/<version>/``.

        ``key`` picks a file by its key instead (e.g. ``tflite_fp32``). Skips the download when
        that version's file is already there with the right hash, which is how an app avoids
        downloading on every launch.
        """
        if model is None:
            model = await self.latest_model(platform, precision=precision)
        return await asyncio.to_thread(self._download, Path(dest_dir), model, key)

    def _download(self, dest_dir: Path, model: dict[str, Any], key: str | None) -> DownloadedModel:
        files = model["files"]
        if key is None:
            if "delivery" not in model:
                raise ArtsnapError(400, "no_platform", "ask latest_model for a platform, or pass a file key")
            key = str(model["delivery"]["key"])
        if key not in files:
            raise ArtsnapError(404, "no_such_file", f"model {model['version']} has no {key!r}; it has {sorted(files)}")
        meta = files[key]
        expected = meta.get("sha256")
        if not expected:
            raise ArtsnapError(
                502, "no_checksum", f"the server gives no SHA-256 for {key}; refusing an unverifiable file"
            )
        target = dest_dir / model["version"] / meta["name"]
        if not (target.is_file() and file_sha256(target) == expected):
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            try:
                with self.session.get(self._url(meta["url"]), timeout=self.timeout, stream=True) as resp:
                    self._check(resp)
                    with open(tmp, "wb") as fh:
                        for chunk in resp.iter_content(1 << 16):
                            fh.write(chunk)
                got = file_sha256(tmp)
                if got != expected:
                    raise ArtsnapError(
                        502,
                        "checksum_mismatch",
                        f"downloaded {key} has SHA-256 {got}, the server's card says {expected}",
                    )
                tmp.replace(target)
            finally:
                tmp.unlink(missing_ok=True)
        card = {
            **model["card"],
            "name": model["name"],
            "version": model["version"],
            "embedding_space": model.get("embedding_space"),
        }
        (target.parent / "model_card.json").write_text(json.dumps(card, indent=2))
        return DownloadedModel(version=model["version"], key=key, path=target, card=card)

    # -- search ---------------------------------------------------------------------------
    async def search_photo(
        self,
        collection: str,
        photo: str | Path | bytes | Image.Image,
        *,
        top_k: int = 12,
        labels: Sequence[tuple[str, float]] = (),
        **options: Any,
    ) -> dict[str, Any]:
        """Upload the photo (upright, long side at most 1 024 px) and search the collection."""
        data = await asyncio.to_thread(prepare_upload, photo)
        opts = {"top_k": top_k, **options}
        if labels:
            opts["labels"] = [{"name": n, "confidence": round(float(c), 4)} for n, c in labels]

        def post() -> dict[str, Any]:
            resp = self.session.post(
                self._url(f"/v1/collections/{collection}/search"),
                files={"image": ("photo.jpg", data, "image/jpeg")},
                data={"options": json.dumps(opts)},
                timeout=self.timeout,
            )
            body: dict[str, Any] = self._check(resp).json()
            return body

        return await asyncio.to_thread(post)

    async def search_embedding(
        self,
        collection: str,
        embedding: Sequence[float],
        *,
        embedding_space: str | None,
        top_k: int = 12,
        labels: Sequence[tuple[str, float]] = (),
        **options: Any,
    ) -> dict[str, Any]:
        """Search with the on-device embedding; ``embedding_space`` is the downloaded model's."""
        opts: dict[str, Any] = {"top_k": top_k, **options}
        if labels:
            opts["labels"] = [{"name": n, "confidence": round(float(c), 4)} for n, c in labels]
        body = {"embedding": [float(x) for x in embedding], "embedding_space": embedding_space, "options": opts}

        def post() -> dict[str, Any]:
            resp = self.session.post(self._url(f"/v1/collections/{collection}/search"), json=body, timeout=self.timeout)
            out: dict[str, Any] = self._check(resp).json()
            return out

        return await asyncio.to_thread(post)
