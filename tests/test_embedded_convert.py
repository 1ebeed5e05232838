"""The embedded LLM's one-time conversion writes a loadable folder on every torchrun rank."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from hawk_core.embedded import _write_plain_llm


def _tiny(tie: bool) -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=tie)
    return LlamaForCausalLM(cfg).eval()


@pytest.mark.parametrize("tie", [True, False])
def test_conversion_writes_weights_on_a_non_zero_rank(tmp_path, monkeypatch, tie):
    # What a torchrun rank 1 sees: transformers' save_pretrained returns there without writing.
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda *a, **k: 1)
    model = _tiny(tie)
    _write_plain_llm(model, tmp_path)
    assert {"config.json", "model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    monkeypatch.undo()
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    x = torch.tensor([[1, 5, 9, 33]])
    with torch.no_grad():
        assert torch.equal(model(x).logits, loaded(x).logits)
    tied = loaded.lm_head.weight.data_ptr() == loaded.model.embed_tokens.weight.data_ptr()
    assert tied == tie
