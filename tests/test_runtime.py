"""The one device / precision policy (hawk_core.runtime): bf16 autocast on CPUs that have it."""

import pytest
import torch

from hawk_core import runtime
from hawk_core.errors import ConfigError


@pytest.mark.parametrize("env, expected", [("1", torch.bfloat16), ("0", None)])
def test_auto_autocast_on_cpu_follows_native_bf16(monkeypatch, env, expected):
    monkeypatch.setenv("HAWK_CPU_BF16", env)
    assert runtime.autocast_dtype("auto", torch.device("cpu")) is expected


def test_cpu_bf16_detection_uses_onednn_and_falls_back_to_fp32(monkeypatch):
    monkeypatch.delenv("HAWK_CPU_BF16", raising=False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False, raising=False)
    assert runtime.cpu_supports_bf16() is False
    assert runtime.autocast_dtype("auto", torch.device("cpu")) is None  # an old CPU keeps fp32
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    assert runtime.cpu_supports_bf16() is True
    assert runtime.autocast_dtype("auto", "cpu") is torch.bfloat16


def test_explicit_precisions_are_kept_on_cpu(monkeypatch):
    monkeypatch.setenv("HAWK_CPU_BF16", "0")
    assert runtime.autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16  # asked for: emulated but allowed
    assert runtime.autocast_dtype("fp32", torch.device("cpu")) is None
    assert runtime.autocast_dtype("float32", torch.device("cpu")) is None
    with pytest.raises(ConfigError, match="fp16 autocast needs a CUDA"):
        runtime.autocast_dtype("fp16", torch.device("cpu"))


def test_weights_dtype_auto_stays_float32_on_cpu(monkeypatch):
    """``resolve_precision`` (the weights of training and of the frozen encoders) keeps float32
    on a CPU even with native bf16: the encoders run under autocast instead."""
    monkeypatch.setenv("HAWK_CPU_BF16", "1")
    assert runtime.resolve_precision("auto", "cpu") is torch.float32


@pytest.mark.parametrize(
    "env, name, expected",
    [
        ("1", "auto", (torch.float32, torch.bfloat16)),  # native bf16: a bf16 LLM, fp32 encoders
        ("0", "auto", (torch.float32, torch.float32)),  # no native bf16: float32 as before
        ("1", "float32", (torch.float32, torch.float32)),  # asked for: kept
        ("0", "bf16", (torch.bfloat16, torch.bfloat16)),
    ],
)
def test_inference_dtypes_give_the_llm_bf16_only_on_cpus_that_have_it(monkeypatch, env, name, expected):
    monkeypatch.setenv("HAWK_CPU_BF16", env)
    assert runtime.inference_dtypes(name, "cpu") == expected
