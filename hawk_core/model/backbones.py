"""Frozen backbones, chosen by config field in small builders that raise on unknown values.

* :func:`build_vision` -> an image encoder module: (N, 3, S, S) normalised pixels ->
  (N, tokens, D) features, with ``feature_dim`` and ``num_tokens`` attributes.
* :func:`build_llm` -> (causal LM, tokenizer).

Every builder goes through one path per kind whether the weights come from a local folder,
a hub id, the embedded packages or (``random_init`` / ``kind='random'``) a seeded random
init used by the ``tiny`` preset and the tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError, ConfigError, DependencyError
from .config import MOTION_QFORMER_SEED_OFFSET, LLMConfig, VisionConfig

BLIP2_PREFIXES = ("vision_model.", "qformer.", "query_tokens")


# --------------------------------------------------------------------------- vision
class Blip2ImageEncoder(nn.Module):
    """BLIP-2's frozen vision tower (EVA ViT, with its final LayerNorm) and, optionally, its
    frozen Q-Former: per frame 32 query tokens x 768 (or the ViT's 257 x 1408 tokens).

    :meth:`forward` gives the appearance branch's features, :meth:`encode_motion` the motion
    branch's (the same path unless :meth:`attach_motion_path` set another; see
    ``VisionConfig.motion_encoder`` / ``motion_queries``).
    """

    def __init__(self, blip2_config, image_qformer: bool):
        super().__init__()
        from transformers import Blip2QFormerModel, Blip2VisionModel

        self.vision_model = Blip2VisionModel(blip2_config.vision_config)
        self.use_qformer = image_qformer
        vc, qc = blip2_config.vision_config, blip2_config.qformer_config
        self._qformer_config = qc
        if image_qformer:
            self.qformer = Blip2QFormerModel(qc)
            self.query_tokens = nn.Parameter(torch.zeros(1, blip2_config.num_query_tokens, qc.hidden_size))
            self.feature_dim = qc.hidden_size
            self.num_tokens = blip2_config.num_query_tokens
        else:
            self.feature_dim = vc.hidden_size
            self.num_tokens = (vc.image_size // vc.patch_size) ** 2 + 1
        self.vit_dim = vc.hidden_size
        self.motion_encoder = "pretrained"
        self.motion_queries = "shared"
        self.motion_feature_dim = self.feature_dim  # what encode_motion returns per token

    def attach_motion_path(self, motion_encoder: str, motion_queries: str, *, seed: int) -> None:
        """Give the motion branch the release's image path (``motion_encoder='release'``: a
        fresh LayerNorm, eps 1e-5, and a random frozen Q-Former drawn with
        ``torch.manual_seed(seed)`` on the CPU in float32) and/or leave its queries to the
        model (``motion_queries='trainable'``: :meth:`encode_motion` then returns the
        normalised ViT tokens and :meth:`motion_query_features` runs the Q-Former)."""
        from transformers import Blip2QFormerModel

        if (motion_encoder != "pretrained" or motion_queries != "shared") and not self.use_qformer:
            raise ConfigError("vision.motion_encoder / motion_queries need the image Q-Former (vision.image_qformer)")
        self.motion_encoder, self.motion_queries = motion_encoder, motion_queries
        if motion_encoder == "release":
            with torch.random.fork_rng(devices=[]), torch.device("cpu"):
                self.motion_norm = nn.LayerNorm(self.vit_dim, eps=1e-5)  # weight 1, bias 0
                self.motion_qformer = Blip2QFormerModel(self._qformer_config).float()
                torch.manual_seed(seed)  # after construction: the values do not depend on the library's own init
                for m in self.motion_qformer.modules():  # BERT's init, stated here, in module order
                    if isinstance(m, nn.Linear):
                        nn.init.normal_(m.weight, std=0.02)
                        nn.init.zeros_(m.bias)
                    elif isinstance(m, nn.LayerNorm):
                        nn.init.ones_(m.weight)
                        nn.init.zeros_(m.bias)
            p = self.query_tokens
            self.motion_norm.to(p.device, p.dtype)
            self.motion_qformer.to(p.device, p.dtype)
        self.motion_feature_dim = self.vit_dim if motion_queries == "trainable" else self.feature_dim

    @property
    def num_query_tokens(self) -> int:
        return int(self.query_tokens.size(1)) if self.use_qformer else 0

    def vit(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) -> (N, 257, 1408): the EVA ViT's tokens before its final LayerNorm."""
        vm = self.vision_model
        return vm.encoder(inputs_embeds=vm.embeddings(pixels)).last_hidden_state

    def query_features(self, queries: torch.Tensor, img: torch.Tensor, *, motion: bool = False) -> torch.Tensor:
        """The image Q-Former (the motion branch's own with ``motion`` under the release
        construction) on (N, 257, D) tokens with (1, Q, H) queries -> (N, Q, H)."""
        qformer = self.motion_qformer if (motion and self.motion_encoder == "release") else self.qformer
        q = queries.to(img.dtype).expand(img.size(0), -1, -1)
        mask = torch.ones(img.shape[:-1], dtype=torch.long, device=img.device)
        return qformer(query_embeds=q, encoder_hidden_states=img, encoder_attention_mask=mask, return_dict=True).last_hidden_state

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        img = self.vision_model(pixel_values=pixels, return_dict=True).last_hidden_state  # (N, 257, 1408)
        if not self.use_qformer:
            return img
        return self.query_features(self.query_tokens, img)

    def encode_motion(self, pixels: torch.Tensor) -> torch.Tensor:
        """The motion branch's frozen features: as :meth:`forward` by default; the ViT tokens
        after the motion LayerNorm when the motion queries are trainable."""
        if self.motion_encoder == "pretrained" and self.motion_queries == "shared":
            return self.forward(pixels)
        raw = self.vit(pixels)
        img = self.motion_norm(raw) if self.motion_encoder == "release" else self.vision_model.post_layernorm(raw)
        if self.motion_queries == "trainable":
            return img  # (N, 257, 1408): the queries are applied in the trainable path
        return self.query_features(self.query_tokens, img, motion=True)

    def motion_query_features(self, queries: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        """The motion branch's image Q-Former with its trainable ``queries`` (1, Q, H) on the
        output of :meth:`encode_motion` (N, 257, D) -> (N, Q, H); gradients reach ``queries``."""
        return self.query_features(queries, img, motion=True)


class EfficientNetImageEncoder(nn.Module):
    """EfficientNet-Lite0's final feature map as tokens: 224 px -> 7x7 = 49 tokens x 1280."""

    feature_dim = 1280

    def __init__(self, net: nn.Module, image_size: int):
        super().__init__()
        self.net = net
        side = -(-image_size // 32)
        self.num_tokens = side * side

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.net.extract_features(pixels)  # (N, 1280, 7, 7)
        return x.flatten(2).transpose(1, 2)  # (N, 49, 1280)

    encode_motion = forward  # one encoder for both branches
    motion_feature_dim = feature_dim
    num_query_tokens = 0


def random_blip2_config(cfg: VisionConfig):
    """A miniature BLIP-2 config of the ``random_*`` sizes (the tiny preset, tests)."""
    from transformers import Blip2Config, Blip2QFormerConfig, Blip2VisionConfig, LlamaConfig

    vc = Blip2VisionConfig(
        hidden_size=cfg.random_hidden_size, intermediate_size=4 * cfg.random_hidden_size,
        num_hidden_layers=cfg.random_layers, num_attention_heads=cfg.random_heads,
        image_size=cfg.image_size, patch_size=cfg.random_patch_size,
    )
    qc = Blip2QFormerConfig(
        hidden_size=cfg.random_qformer_hidden_size, num_hidden_layers=cfg.random_qformer_layers,
        num_attention_heads=cfg.random_qformer_heads, intermediate_size=4 * cfg.random_qformer_hidden_size,
        encoder_hidden_size=cfg.random_hidden_size, vocab_size=64, max_position_embeddings=64,
    )
    tc = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    return Blip2Config(vision_config=vc.to_dict(), qformer_config=qc.to_dict(), text_config=tc.to_dict(),
                       num_query_tokens=cfg.random_qformer_queries)


def _resolve_files(source: str, wanted_prefixes: tuple[str, ...]) -> tuple[Path, list[Path]]:
    """(config.json, the safetensors files holding keys with ``wanted_prefixes``) of a local
    folder or a hub id (only those shards are fetched from the hub)."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        cfg = folder / "config.json"
        index = folder / "model.safetensors.index.json"
        if not cfg.is_file():
            raise CheckpointError(f"{folder}: no config.json (not a transformers checkpoint folder)")
        if index.is_file():
            weight_map = json.loads(index.read_text())["weight_map"]
            names = sorted({f for k, f in weight_map.items() if k.startswith(wanted_prefixes)})
            return cfg, [folder / n for n in names]
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            raise CheckpointError(f"{folder}: no .safetensors weights")
        return cfg, files
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        cfg = Path(hf_hub_download(source, "config.json"))
        try:
            index = Path(hf_hub_download(source, "model.safetensors.index.json"))
            weight_map = json.loads(index.read_text())["weight_map"]
            names = sorted({f for k, f in weight_map.items() if k.startswith(wanted_prefixes)})
        except EntryNotFoundError:
            names = ["model.safetensors"]
        return cfg, [Path(hf_hub_download(source, n)) for n in names]
    except Exception as e:  # noqa: BLE001 - offline, unknown id, gated repo...
        raise DependencyError(f"cannot get BLIP-2 weights {source!r} (a local folder or a hub id you can reach): "
                              f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def _config_file(source: str) -> Path:
    """The config.json of a local folder or hub id (only that file is fetched)."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        cfg = folder / "config.json"
        if not cfg.is_file():
            raise CheckpointError(f"{folder}: no config.json (not a transformers checkpoint folder)")
        return cfg
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(source, "config.json"))
    except Exception as e:  # noqa: BLE001 - offline, unknown id, gated repo...
        raise DependencyError(f"cannot get the config of {source!r} (a local folder or a hub id you can reach): "
                              f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def vision_dims(cfg: VisionConfig) -> dict:
    """The dimensions the trainable parts depend on, read from configs only (no weights):
    ``feature_dim`` (per-token width of the frozen features the video Q-Formers read),
    ``query_tokens`` / ``query_dim`` (the image Q-Former's queries; 0 without one)."""
    if cfg.kind == "efficientnet_lite0":
        return {"feature_dim": EfficientNetImageEncoder.feature_dim, "query_tokens": 0, "query_dim": 0}
    if cfg.random_init:
        bc = random_blip2_config(cfg)
    else:
        from transformers import Blip2Config

        try:
            bc = Blip2Config.from_pretrained(_config_file(cfg.source).parent)
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{cfg.source}: not a BLIP-2 config: {str(e).splitlines()[0]}") from None
    if cfg.image_qformer:
        qh = bc.qformer_config.hidden_size
        return {"feature_dim": qh, "query_tokens": bc.num_query_tokens, "query_dim": qh}
    return {"feature_dim": bc.vision_config.hidden_size, "query_tokens": 0, "query_dim": 0}


def llm_width(cfg: LLMConfig) -> int:
    """The LLM's embedding width, from its config only where it can (``hf``, ``random``)."""
    if cfg.kind == "random":
        return cfg.random_hidden_size
    if cfg.kind == "hf":
        from transformers import AutoConfig

        try:
            c = AutoConfig.from_pretrained(_config_file(cfg.source).parent)
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{cfg.source}: not a transformers LLM config: {str(e).splitlines()[0]}") from None
        width = getattr(c, "hidden_size", None) or getattr(getattr(c, "text_config", None), "hidden_size", None)
        if not width:
            raise CheckpointError(f"{cfg.source}: its config names no hidden_size")
        return int(width)
    model, _ = build_llm(cfg)  # the embedded LLM: a local file, loaded once
    return int(model.get_input_embeddings().weight.size(1))


def load_blip2_encoder(source: str, image_qformer: bool) -> Blip2ImageEncoder:
    """The vision tower (+ Q-Former and its query tokens) of a BLIP-2 checkpoint, strictly;
    the checkpoint's language model is never loaded."""
    from safetensors import safe_open
    from transformers import Blip2Config

    cfg_path, files = _resolve_files(source, BLIP2_PREFIXES)
    try:
        config = Blip2Config.from_pretrained(cfg_path.parent)
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{source}: not a BLIP-2 config: {str(e).splitlines()[0]}") from None
    with torch.device("meta"):
        enc = Blip2ImageEncoder(config, image_qformer)
    expected = enc.state_dict()
    state: dict[str, torch.Tensor] = {}
    for f in files:
        with safe_open(str(f), framework="pt") as sf:
            for k in sf.keys():
                if k in expected:
                    state[k] = sf.get_tensor(k)
    missing = [k for k in expected if k not in state]
    if missing:
        raise CheckpointError(f"{source}: BLIP-2 weights lack {len(missing)} key(s), e.g. {', '.join(missing[:3])}")
    bad = [k for k, v in state.items() if v.shape != expected[k].shape]
    if bad:
        raise CheckpointError(f"{source}: shape mismatch for {', '.join(bad[:3])}")
    enc.load_state_dict(state, assign=True)
    return enc


def build_vision(cfg: VisionConfig, *, seed: int = 0) -> nn.Module:
    """The frozen image encoder named by ``cfg.kind`` (eval mode, no gradients)."""
    if cfg.kind == "blip2":
        if cfg.random_init:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + 1)
                enc = Blip2ImageEncoder(random_blip2_config(cfg), cfg.image_qformer)
                if cfg.image_qformer:
                    nn.init.normal_(enc.query_tokens, std=0.02)
        else:
            enc = load_blip2_encoder(cfg.source, cfg.image_qformer)
            vc = enc.vision_model.config
            if vc.image_size != cfg.image_size:
                raise ConfigError(f"vision.image_size {cfg.image_size} differs from the BLIP-2 checkpoint's {vc.image_size}")
        enc.attach_motion_path(cfg.motion_encoder, cfg.motion_queries, seed=seed + MOTION_QFORMER_SEED_OFFSET)
    elif cfg.kind == "efficientnet_lite0":
        if cfg.source:
            from efficientnet_lite_pytorch import EfficientNet

            net = EfficientNet.from_name("efficientnet-lite0")
            try:
                net.load_state_dict(torch.load(cfg.source, map_location="cpu", weights_only=True))
            except (OSError, RuntimeError) as e:
                raise CheckpointError(f"cannot load EfficientNet-Lite0 weights {cfg.source}: {str(e).splitlines()[0]}") from None
        else:
            from ..embedded import load_efficientnet_lite0

            net = load_efficientnet_lite0()
        enc = EfficientNetImageEncoder(net, cfg.image_size)
    else:  # pragma: no cover - the config rejects it first
        raise ConfigError(f"unknown vision kind {cfg.kind!r}")
    enc.requires_grad_(False)
    return enc.eval()


# --------------------------------------------------------------------------- LLM
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def byte_tokenizer():
    """A byte-level tokenizer built in memory (256 bytes + ChatML specials), no files."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>", pad_token="<|pad|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_llm(cfg: LLMConfig, *, seed: int = 0, dtype: torch.dtype | None = None):
    """(frozen causal LM in eval mode, tokenizer) named by ``cfg.kind``."""
    dtype = dtype or torch.float32
    if cfg.kind == "smollm2":
        from ..embedded import load_smollm2

        model, tok = load_smollm2(cfg.source, torch_dtype=dtype)
    elif cfg.kind == "hf":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ..embedded import quiet_transformers

        quiet_transformers()
        try:
            tok = AutoTokenizer.from_pretrained(cfg.source)
            model = AutoModelForCausalLM.from_pretrained(cfg.source, dtype=dtype)
        except (OSError, ValueError) as e:
            raise DependencyError(f"cannot load LLM {cfg.source!r}: {str(e).splitlines()[0]}") from None
    elif cfg.kind == "random":
        from transformers import LlamaConfig, LlamaForCausalLM

        tok = byte_tokenizer()
        lc = LlamaConfig(
            vocab_size=len(tok), hidden_size=cfg.random_hidden_size, intermediate_size=cfg.random_intermediate_size,
            num_hidden_layers=cfg.random_layers, num_attention_heads=cfg.random_heads, num_key_value_heads=cfg.random_heads,
            max_position_embeddings=2048, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id, tie_word_embeddings=True,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 2)
            model = LlamaForCausalLM(lc).to(dtype)
    else:  # pragma: no cover - the config rejects it first
        raise ConfigError(f"unknown llm kind {cfg.kind!r}")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.requires_grad_(False)
    return model.eval(), tok
