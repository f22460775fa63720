"""HTTP client for the artsnap API: what a phone app does, in Python.

- ``latest_model`` + ``download_model``: poll ``GET /v1/models/latest``, download the file
  for this platform once per version, verify its SHA-256 against the card.
- ``search_photo``: upload a photo (multipart), optionally with the labels the phone's
  classifier gave.
- ``search_embedding``: send only the on-device embedding, so the photo never leaves the phone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from edge_models.model_card import file_sha256


class ArtsnapError(RuntimeError):
    """The server answered with an error; ``code`` is the API's machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class DownloadedModel:
    version: str
    key: str
    path: Path
    card: dict[str, Any]


class ArtsnapClient:
    def __init__(self, base_url: str, *, session: requests.Session | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    # -- plumbing -------------------------------------------------------------------------
    def _check(self, resp: requests.Response) -> requests.Response:
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
    def latest_model(self, task: str = "classification") -> dict[str, Any]:
        resp = self.session.get(self._url("/v1/models/latest"), params={"task": task}, timeout=self.timeout)
        return self._check(resp).json()

    def download_model(
        self, dest_dir: str | Path, key: str = "tflite_int8", *, model: dict[str, Any] | None = None
    ) -> DownloadedModel:
        """Download one file of the latest (or given) model into ``dest_dir/<version>/``.

        Skips the download when that version's file is already there and its hash matches,
        which is how an app avoids re-downloading on every launch.
        """
        model = model or self.latest_model()
        files = model["files"]
        if key not in files:
            raise ArtsnapError(404, "no_such_file", f"model {model['version']} has no {key!r}; it has {sorted(files)}")
        meta = files[key]
        target = Path(dest_dir) / model["version"] / meta["name"]
        card_path = target.with_name("model_card.json")
        if not (target.is_file() and file_sha256(target) == meta.get("sha256")):
            target.parent.mkdir(parents=True, exist_ok=True)
            resp = self._check(self.session.get(self._url(meta["url"]), timeout=self.timeout, stream=True))
            tmp = target.with_suffix(target.suffix + ".part")
            with open(tmp, "wb") as fh:
                for chunk in resp.iter_content(1 << 16):
                    fh.write(chunk)
            if meta.get("sha256") and file_sha256(tmp) != meta["sha256"]:
                tmp.unlink()
                raise ArtsnapError(502, "checksum_mismatch", f"downloaded {key} does not match the card's SHA-256")
            tmp.replace(target)
        card = {**model["card"], "version": model["version"], "name": model["name"]}
        card_path.write_text(json.dumps(card, indent=2))
        return DownloadedModel(version=model["version"], key=key, path=target, card=card)

    # -- search ---------------------------------------------------------------------------
    def search_photo(
        self,
        collection: str,
        photo: str | Path | bytes,
        *,
        top_k: int = 12,
        labels: Sequence[tuple[str, float]] = (),
        **options: Any,
    ) -> dict[str, Any]:
        data = photo if isinstance(photo, (bytes, bytearray)) else Path(photo).read_bytes()
        opts = {"top_k": top_k, **options}
        if labels:
            opts["labels"] = [{"name": n, "confidence": round(float(c), 4)} for n, c in labels]
        resp = self.session.post(
            self._url(f"/v1/collections/{collection}/search"),
            files={"image": ("photo.jpg", bytes(data), "image/jpeg")},
            data={"options": json.dumps(opts)},
            timeout=self.timeout,
        )
        return self._check(resp).json()

    def search_embedding(
        self,
        collection: str,
        embedding: Sequence[float],
        *,
        top_k: int = 12,
        labels: Sequence[tuple[str, float]] = (),
        **options: Any,
    ) -> dict[str, Any]:
        opts: dict[str, Any] = {"top_k": top_k, **options}
        if labels:
            opts["labels"] = [{"name": n, "confidence": round(float(c), 4)} for n, c in labels]
        body = {"embedding": [float(x) for x in embedding], "options": opts}
        resp = self.session.post(self._url(f"/v1/collections/{collection}/search"), json=body, timeout=self.timeout)
        return self._check(resp).json()
