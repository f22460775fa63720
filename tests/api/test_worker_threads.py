"""Each gunicorn worker's ONNX Runtime threads: the machine's cores shared out between workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import Settings
from backend.serve import worker_threads


@pytest.mark.parametrize(("cores", "workers", "threads"), [(2, 2, 1), (8, 2, 4), (2, 4, 1), (4, 1, 4)])
def test_workers_share_the_cores(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cores: int, workers: int, threads: int
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    assert worker_threads(Settings(data_dir=tmp_path), workers).threads == threads


def test_an_operators_thread_count_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert worker_threads(Settings(data_dir=tmp_path, threads=3), 2).threads == 3
