"""How artsnap's index vocabulary maps onto Milvus: addresses, collection names, index types, filters.

Kept apart from :mod:`.milvus_index` so the rules can be read (and tested) without a Milvus
at hand, and so nothing here imports ``pymilvus``.

- **Addresses.** ``ARTSNAP_VECTOR_STORE`` is ``faiss`` (the embedded default) or a Milvus URI:
  ``milvus:///abs/path/milvus.db`` opens an embedded milvus-lite engine in this process (one
  process only: milvus-lite locks its data folder), ``http://host:19530`` (or
  ``milvus://host:19530``) a Milvus server or cluster that any number of processes share.
- **Names.** One Milvus collection per (artsnap collection, descriptor), reached through an
  *alias* (``artsnap_c3_cnn``) that points at a physical generation (``artsnap_c3_cnn__g2``).
  A rebuild fills a new generation beside the serving one and moves the alias in one call,
  which every instance sees at once; the previous generation stays for rollback.
- **Index types.** From faiss ``index_factory`` strings, where Milvus has the same structure:
  ``Flat`` → ``FLAT``, ``HNSW32`` → ``HNSW`` (M=32), ``IVF1024,Flat`` → ``IVF_FLAT``,
  ``IVF1024,SQ8`` → ``IVF_SQ8``, ``IVF1024,PQ64`` → ``IVF_PQ`` (m=64), ``BFlat`` → ``BIN_FLAT``,
  ``BIVF1024`` → ``BIN_IVF_FLAT``. Anything else is refused with the list of what maps.
- **Filters.** The engine restricts a search to catalog ids (a label filter is resolved by the
  catalog, which owns labels); Milvus receives that as an ``id in [...]`` expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .index import IndexConfigError, parse_params

#: Alias prefix of every Milvus collection artsnap owns (several deployments may share one Milvus).
NAME_PREFIX = "artsnap"


@dataclass(frozen=True)
class MilvusTarget:
    """Where a Milvus store lives: a local milvus-lite data path, or a server URI."""

    uri: str

    @property
    def is_local(self) -> bool:
        return not self.uri.startswith(("http://", "https://", "tcp://", "unix:"))


def parse_vector_store(text: str) -> MilvusTarget | None:
    """``faiss``/empty → ``None`` (FAISS files); a Milvus URI → its target; else a clear error."""
    value = (text or "").strip()
    if value in ("", "faiss"):
        return None
    if value.startswith("milvus://"):
        rest = value[len("milvus://") :]
        if rest.startswith("/"):  # milvus:///abs/path/milvus.db
            return MilvusTarget(str(Path(rest)))
        return MilvusTarget(f"http://{rest}")
    if value.startswith(("http://", "https://")):
        return MilvusTarget(value)
    raise IndexConfigError(
        f"vector store {value!r} is not 'faiss' or a Milvus URI "
        "(milvus:///path/milvus.db for embedded milvus-lite, http://host:19530 for a Milvus server)"
    )


def alias_name(collection_id: int, descriptor: str, prefix: str = NAME_PREFIX) -> str:
    """The stable name searches use (Milvus names allow letters, digits and underscores)."""
    return f"{prefix}_c{collection_id}_{re.sub(r'[^0-9A-Za-z_]', '_', descriptor)}"


def generation_name(alias: str, generation: int) -> str:
    return f"{alias}__g{generation}"


def generation_of(physical: str) -> int:
    match = re.search(r"__g(\d+)$", physical)
    return int(match.group(1)) if match else 0


@dataclass(frozen=True)
class MilvusIndexSpec:
    """What ``create_index`` gets for one factory string."""

    index_type: str
    metric_type: str
    params: dict[str, int] = field(default_factory=dict)
    #: Search-time parameters (``nprobe``, ``ef``) from the deployment's ``…_SEARCH_PARAMS``.
    search_params: dict[str, int] = field(default_factory=dict)

    @property
    def binary(self) -> bool:
        return self.index_type.startswith("BIN_")


_FLOAT_RULES: tuple[tuple[str, str], ...] = (
    (r"Flat", "FLAT"),
    (r"HNSW(?P<M>\d+)(,Flat)?", "HNSW"),
    (r"IVF(?P<nlist>\d+),Flat", "IVF_FLAT"),
    (r"IVF(?P<nlist>\d+),SQ8", "IVF_SQ8"),
    (r"IVF(?P<nlist>\d+),PQ(?P<m>\d+)(x(?P<nbits>\d+))?", "IVF_PQ"),
)
_BINARY_RULES: tuple[tuple[str, str], ...] = (
    (r"BFlat", "BIN_FLAT"),
    (r"BIVF(?P<nlist>\d+)", "BIN_IVF_FLAT"),
)
_SEARCH_PARAM_NAMES = {"nprobe": "nprobe", "efSearch": "ef"}


def index_spec(factory: str, search_params: str = "") -> MilvusIndexSpec:
    """The Milvus index for a faiss factory string, or :class:`IndexConfigError` naming what maps."""
    text = factory.replace(" ", "")
    binary = text.startswith("B")
    for pattern, index_type in _BINARY_RULES if binary else _FLOAT_RULES:
        match = re.fullmatch(pattern, text)
        if match is None:
            continue
        params = {k: int(v) for k, v in match.groupdict().items() if v is not None}
        if index_type == "HNSW":
            params["efConstruction"] = 200
        wanted = parse_params(search_params)
        unknown = set(wanted) - set(_SEARCH_PARAM_NAMES)
        if unknown:
            raise IndexConfigError(
                f"search parameter(s) {', '.join(sorted(unknown))} have no Milvus equivalent "
                f"(known: {', '.join(_SEARCH_PARAM_NAMES)})"
            )
        return MilvusIndexSpec(
            index_type=index_type,
            metric_type="HAMMING" if binary else "IP",
            params=params,
            search_params={_SEARCH_PARAM_NAMES[k]: int(v) for k, v in wanted.items()},
        )
    known = "BFlat, BIVF<n>" if binary else "Flat, HNSW<M>, IVF<n>,Flat, IVF<n>,SQ8, IVF<n>,PQ<m>"
    raise IndexConfigError(f"index {factory!r} has no Milvus equivalent; the Milvus store maps {known}")


def id_filter(ids: Iterable[Any]) -> str:
    """``id in [3,5,8]``: the engine's allowed-ids restriction as a Milvus boolean expression."""
    return "id in [" + ",".join(str(int(i)) for i in ids) + "]"
