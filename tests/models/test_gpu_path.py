"""The GPU path, checked on a machine without one: what the product asks ONNX Runtime and torch for.

No GPU is needed to check the decisions: which execution providers a session is built with
when ``onnxruntime-gpu`` reports CUDA, that the server's ``device`` setting reaches the
embedding session, and that training picks CUDA when torch sees it. Only the provider list
onnxruntime reports is replaced; the sessions are real.
"""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch

from edge_models import runtime

CUDA = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_cuda_is_asked_for_first_when_present_and_cpu_stays_the_fallback(monkeypatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: CUDA)
    assert runtime.providers("auto") == CUDA
    assert runtime.providers("cuda") == CUDA
    assert runtime.providers("cpu") == ["CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert runtime.providers("auto") == ["CPUExecutionProvider"]
    with pytest.raises(RuntimeError, match="onnxruntime-gpu"):
        runtime.providers("cuda")
    with pytest.raises(ValueError, match="device must be one of"):
        runtime.providers("gpu")


def test_the_servers_device_setting_reaches_the_embedding_session(make_settings, monkeypatch) -> None:
    from backend.engine.services import Engine

    asked: list[list[str]] = []
    real = runtime.providers

    def recording(device: str = "auto") -> list[str]:
        asked.append([device, *real(device)])
        return real(device)

    monkeypatch.setattr(runtime, "providers", recording)
    eng = Engine.open(make_settings(device="cpu"))
    try:
        eng.search.warm_up()
        assert asked and asked[0][0] == "cpu"
        assert eng.descriptors["cnn"].model.provider == "CPUExecutionProvider"
    finally:
        eng.close()


def test_training_picks_cuda_when_torch_sees_it(monkeypatch) -> None:
    from edge_models.backbone import best_torch_device
    from edge_models.code_head import CodeFitOptions, _device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert best_torch_device().type == "cuda"
    assert _device(CodeFitOptions()).type == "cuda"
    assert _device(CodeFitOptions(device="cpu")).type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _device(CodeFitOptions()).type == "cpu"
