"""Convert a checkpoint of the authors' release (``checkpoint_N.pth`` from GitHub
``jqtangust/hawk``, weights on the Hugging Face repo ``Jiaqi-hkust/hawk``) into a hawk
checkpoint folder, through one key map.

What the file holds (its runner's ``_save_checkpoint``): ``{"model", "optimizer", "config",
"scaler", "epoch"}``, where ``model`` is the state dict minus the frozen *parameters*; every
buffer stays. A real file has 165 tensors: 129 trainable parameters and 36 buffers.

Key map, release -> hawk (``B`` = ``branches.video`` for the appearance names,
``branches.motion`` for the ``_motion`` ones)::

    video_Qformer[_motion].bert.embeddings.LayerNorm.*                  -> B.video_qformer.norm.*
    ....bert.encoder.layer.{i}.attention.self.{query,key,value}.*      -> B.video_qformer.layers.{i}.self_attn.{query,key,value}.*
    ....bert.encoder.layer.{i}.attention.output.dense.*                 -> B.video_qformer.layers.{i}.self_attn.out.*
    ....bert.encoder.layer.{i}.attention.output.LayerNorm.*             -> B.video_qformer.layers.{i}.self_attn.norm.*
    ....bert.encoder.layer.{i}.crossattention.(same as attention)       -> B.video_qformer.layers.{i}.cross_attn.*
    ....bert.encoder.layer.{i}.intermediate_query.dense.*               -> B.video_qformer.layers.{i}.ffn.fc1.*
    ....bert.encoder.layer.{i}.output_query.dense.*                     -> B.video_qformer.layers.{i}.ffn.fc2.*
    ....bert.encoder.layer.{i}.output_query.LayerNorm.*                 -> B.video_qformer.layers.{i}.ffn.norm.*
    video_query_tokens[_motion]                                         -> B.video_qformer.query_tokens
    video_frame_position_embedding[_motion].weight                      -> B.video_qformer.frame_position.weight
    llama_proj_0.* / llama_proj_motion_0.*                              -> B.projection.proj_in.*
    llama_proj_last.encoder_0.* / llama_proj_motion_last.encoder_0.*    -> B.projection.shared.0.*
    llama_proj_last.decoder_2.* / llama_proj_motion_last.decoder_2.*    -> B.projection.to_llm.*
    llama_proj_last.encoder_1.* / llama_proj_motion_last.encoder_1.*    -> B.projection.to_tight.*
    query_tokens_motion                                                 -> branches.motion.image_queries

``query_tokens_motion`` is the motion branch's image Q-Former queries, which the release
trains (its freezing code re-freezes ``query_tokens`` instead); it needs
``vision.motion_queries='trainable'`` (the ``release`` profile).

Skipped, each with its reason in the report: derivable buffers (``*.position_ids``, an
arange; ``*rotary_emb.inv_freq``, recomputed by the LLM), and BERT text-side weights the
queries never use (``intermediate.*``, ``output.*``, word/position embeddings, ``cls.*``),
which a real file does not hold. Any other key is a parameter with no place in hawk's model:
the conversion fails and names it, as it names every mis-shaped one.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, CheckpointInputError

REPORT_FILE = "convert_report.json"

#: Buffers a release file holds that hawk recomputes: (pattern, why skipped).
DERIVABLE_BUFFERS = (
    (re.compile(r"(^|\.)position_ids$"), "derivable buffer: BERT position ids (an arange), not a weight"),
    (re.compile(r"(^|\.)rotary_emb\.inv_freq$"), "derivable buffer: LLaMA rotary inverse frequencies, recomputed by the LLM"),
)
#: BERT text-side weights of the video Q-Formers, unused by queries-only inputs (the release
#: sets them to None, so a real file has none).
_TEXT_SIDE = re.compile(
    r"^video_Qformer(_motion)?\.(cls\.|bert\.embeddings\.(word_embeddings|position_embeddings)\.|bert\.encoder\.layer\.\d+\.(intermediate|output)\.)"
)
_LAYER_RULES = [
    (r"attention\.self\.(query|key|value)\.", r"self_attn.\1."),
    (r"attention\.output\.dense\.", "self_attn.out."),
    (r"attention\.output\.LayerNorm\.", "self_attn.norm."),
    (r"crossattention\.self\.(query|key|value)\.", r"cross_attn.\1."),
    (r"crossattention\.output\.dense\.", "cross_attn.out."),
    (r"crossattention\.output\.LayerNorm\.", "cross_attn.norm."),
    (r"intermediate_query\.dense\.", "ffn.fc1."),
    (r"output_query\.dense\.", "ffn.fc2."),
    (r"output_query\.LayerNorm\.", "ffn.norm."),
]
_SIMPLE = {
    "video_query_tokens": "branches.video.video_qformer.query_tokens",
    "video_query_tokens_motion": "branches.motion.video_qformer.query_tokens",
    "video_frame_position_embedding.weight": "branches.video.video_qformer.frame_position.weight",
    "video_frame_position_embedding_motion.weight": "branches.motion.video_qformer.frame_position.weight",
    "query_tokens_motion": "branches.motion.image_queries",
}


def rename_release_key(key: str) -> str | None:
    """The hawk parameter a release key maps to, or None when the key maps to none."""
    if key in _SIMPLE:
        return _SIMPLE[key]
    m = re.match(r"^video_Qformer(_motion)?\.bert\.(.*)$", key)
    if m:
        branch = "motion" if m.group(1) else "video"
        rest = m.group(2)
        if re.match(r"^embeddings\.LayerNorm\.(weight|bias)$", rest):
            return f"branches.{branch}.video_qformer.norm.{rest.rsplit('.', 1)[1]}"
        lm = re.match(r"^encoder\.layer\.(\d+)\.(.*)$", rest)
        if not lm:
            return None
        for pat, rep in _LAYER_RULES:
            new, n = re.subn("^" + pat, rep, lm.group(2))
            if n:
                return f"branches.{branch}.video_qformer.layers.{lm.group(1)}.{new}"
        return None
    m = re.match(r"^llama_proj(_motion)?_(0|last)\.(.*)$", key)
    if m:
        branch = "motion" if m.group(1) else "video"
        if m.group(2) == "0":
            return f"branches.{branch}.projection.proj_in.{m.group(3)}" if m.group(3) in ("weight", "bias") else None
        sub = {"encoder_0": "shared.0", "decoder_2": "to_llm", "encoder_1": "to_tight"}
        head, _, tail = m.group(3).partition(".")
        if head in sub and tail in ("weight", "bias"):
            return f"branches.{branch}.projection.{sub[head]}.{tail}"
    return None


def skip_reason(key: str) -> str | None:
    """Why a release key is skipped (a derivable buffer, an unused text-side weight), or None."""
    for pattern, why in DERIVABLE_BUFFERS:
        if pattern.search(key):
            return why
    if _TEXT_SIDE.match(key):
        return "BERT text-side weight the video queries never use"
    return None


@dataclass
class ConversionReport:
    """What a conversion did with every key of the file."""

    source: str
    file: dict = field(default_factory=dict)  # tensors, parameters, buffers, epoch, top-level keys
    loaded: list[dict] = field(default_factory=list)  # {key, name, shape}
    skipped: list[dict] = field(default_factory=list)  # {key, shape, reason}
    unexpected: list[dict] = field(default_factory=list)  # {key, shape}: parameters with no place
    mismatched: list[dict] = field(default_factory=list)  # {key, name, shape, expected}
    missing: list[str] = field(default_factory=list)  # hawk parameters no key fills
    filled_from_appearance: list[str] = field(default_factory=list)
    output: str | None = None
    config: dict = field(default_factory=dict)  # profile, preset, backbones

    @property
    def ok(self) -> bool:
        return not (self.unexpected or self.mismatched or self.missing)

    def error_message(self) -> str:
        """One line naming every unexpected, mis-shaped and missing parameter."""
        parts = []
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} parameter(s) with no place in hawk's model: "
                         + ", ".join(f"{u['key']} {tuple(u['shape'])}" for u in self.unexpected))
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} mis-shaped: "
                         + ", ".join(f"{m['key']} {tuple(m['shape'])} for {m['name']} {tuple(m['expected'])}" for m in self.mismatched))
        if self.missing:
            parts.append(f"{len(self.missing)} hawk parameter(s) no key fills: {', '.join(self.missing)}")
        return f"{self.source}: does not fit the configured model ({'; '.join(parts)})"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def read_release_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The state dict of a release checkpoint and facts about the file.

    ``.safetensors``: read as is. Otherwise a torch pickle, read with
    ``torch.load(weights_only=True)``: plain containers and tensors only, never code; a file
    whose pickle needs code (an OmegaConf object, a class) is refused in one line."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointInputError(f"no checkpoint file at {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise CheckpointInputError(f"{path}: not a readable safetensors file ({str(e).splitlines()[0]})") from None
        return state, {"format": "safetensors", "top_level": None, "epoch": None}
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - UnpicklingError, RuntimeError (not a zip), EOFError...
        text = str(e)
        needs = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text) or re.search(r"global ['\"]?([\w.]+)['\"]? ", text)
        if needs or "weights_only" in text.lower() or "Weights only load failed" in text:
            what = needs.group(1) if needs else "a Python object"
            raise CheckpointInputError(
                f"{path}: its pickle needs code to load ({what}); hawk reads checkpoints with "
                "torch.load(weights_only=True) and will not run it. Re-save its 'model' state dict "
                "(plain tensors) or a .safetensors file where the release code is installed") from None
        raise CheckpointInputError(f"{path}: cannot read checkpoint ({text.splitlines()[0] if text else type(e).__name__})") from None
    info: dict[str, Any] = {"format": "torch", "top_level": None, "epoch": None}
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        info["top_level"] = sorted(str(k) for k in obj)
        epoch = obj.get("epoch")
        info["epoch"] = epoch if isinstance(epoch, (int, str)) else None
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointInputError(f"{path}: holds no state dict (expected {{'model': state_dict, ...}} or a state dict)")
    bad = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointInputError(f"{path}: state dict entries that are not tensors: {', '.join(bad[:5])}")
    return {str(k): v for k, v in obj.items()}, info


def map_release_state(
    state: dict[str, torch.Tensor],
    expected: dict[str, tuple[int, ...]],
    *,
    source: str = "release checkpoint",
    motion_from_appearance: bool = False,
) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Map a release state dict onto hawk's trainable parameters (``expected``: name ->
    shape). Returns (hawk-named tensors, report); the report lists every problem (check
    :attr:`ConversionReport.ok`). ``motion_from_appearance`` fills motion-branch parameters
    the file lacks with the appearance branch's."""
    report = ConversionReport(source=source)
    mapped: dict[str, torch.Tensor] = {}
    buffers = 0
    for key in sorted(state):
        t = state[key]
        shape = list(t.shape)
        name = rename_release_key(key)
        why = skip_reason(key) if name is None else None
        if why is not None:
            buffers += why.startswith("derivable buffer")
            report.skipped.append({"key": key, "shape": shape, "reason": why})
        elif name is None:
            report.unexpected.append({"key": key, "shape": shape})
        elif name not in expected:
            if name.startswith("branches.motion.") and not any(n.startswith("branches.motion.") for n in expected):
                report.skipped.append({"key": key, "shape": shape, "reason": "the configured model has no motion branch (loss.ablate motion)"})
            elif name == "branches.motion.image_queries":
                report.skipped.append({"key": key, "shape": shape, "reason": "vision.motion_queries is 'shared': both branches use "
                                       "BLIP-2's pretrained queries (the release profile loads it)"})
            else:
                report.unexpected.append({"key": key, "shape": shape})
        elif tuple(shape) != tuple(expected[name]):
            report.mismatched.append({"key": key, "name": name, "shape": shape, "expected": list(expected[name])})
        else:
            mapped[name] = t.detach().to(torch.float32)
            report.loaded.append({"key": key, "name": name, "shape": shape})
    if motion_from_appearance:
        for name in expected:
            if name.startswith("branches.motion.") and name not in mapped:
                src = name.replace("branches.motion.", "branches.video.", 1)
                if src in mapped and tuple(mapped[src].shape) == tuple(expected[name]):
                    mapped[name] = mapped[src].clone()
                    report.filled_from_appearance.append(name)
    report.missing = [n for n in expected if n not in mapped and not any(m["name"] == n for m in report.mismatched)]
    report.file = {"tensors": len(state), "parameters": len(state) - buffers, "buffers": buffers}
    return mapped, report


def import_release_state(model, state: dict[str, torch.Tensor], *, motion_from_appearance: bool = False) -> ConversionReport:
    """Load a release state dict into a built ``model`` (a HawkModel); a
    :class:`CheckpointInputError` names every key that does not fit."""
    expected = {n: tuple(t.shape) for n, t in model.adapter_tensors().items()}
    mapped, report = map_release_state(state, expected, motion_from_appearance=motion_from_appearance)
    if not report.ok:
        raise CheckpointInputError(report.error_message())
    model.load_trainable_state(mapped, source="release checkpoint", strict=True)
    return report


def import_release_checkpoint(model, path: str | Path, *, motion_from_appearance: bool = False) -> ConversionReport:
    """:func:`import_release_state` from a release file (read by :func:`read_release_file`)."""
    state, info = read_release_file(path)
    report = import_release_state(model, state, motion_from_appearance=motion_from_appearance)
    report.source = str(path)
    report.file.update(info)
    return report


def conversion_config(
    *,
    preset: str = "paper",
    profile: str = "release",
    llm: str | None = None,
    vision: str | None = None,
    overrides: dict | None = None,
):
    """The HawkConfig a converted checkpoint is written with: ``preset``'s architecture,
    ``profile``'s behaviour, then ``overrides``; ``llm`` / ``vision``: a local folder or hub
    id of LLaMA-2-7B-chat and of a BLIP-2 checkpoint (the frozen backbones it references)."""
    from .config import HawkConfig

    over: dict = {"profile": profile}
    if vision:
        over["vision"] = {"kind": "blip2", "source": vision, "random_init": False}
    if llm:
        over["llm"] = {"kind": "hf", "source": llm}
    cfg = HawkConfig.from_preset(preset, overrides=over)
    return cfg.with_overrides(overrides) if overrides else cfg


def convert_release_checkpoint(path: str | Path, out: str | Path, config, *, overwrite: bool = False) -> ConversionReport:
    """Read a release checkpoint safely, map it onto the trainable parameters of a model of
    ``config`` (shapes from the backbones' configs; no weights are loaded) and write ``out``
    as a hawk checkpoint folder (``config.json`` + ``adapter.safetensors``), with the report
    in ``out/convert_report.json``. The report is written on failure too; then a
    :class:`CheckpointInputError` names every unexpected, mis-shaped or missing parameter."""
    from ..io import write_json
    from .hawk import trainable_shapes, write_checkpoint
    from .run_layout import CHECKPOINT_FILES

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CheckpointInputError(f"--out {out} is a file; give a folder")
    present = [f for f in CHECKPOINT_FILES if (out / f).exists()]
    if present and not overwrite:
        raise CheckpointInputError(f"{out} already holds a checkpoint ({', '.join(present)}); pass --force to replace it")
    state, info = read_release_file(path)
    mapped, report = map_release_state(state, trainable_shapes(config), source=str(path))
    report.file.update(info)
    report.config = {
        "preset": config.preset,
        "profile": config.profile,
        "vision": config.vision.source if not config.vision.random_init else f"{config.vision.kind} (random, tiny)",
        "llm": config.llm.source or config.llm.kind,
        "motion_encoder": config.vision.motion_encoder,
        "motion_queries": config.vision.motion_queries,
    }
    report.output = str(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / REPORT_FILE, report.to_dict())
    if not report.ok:
        raise CheckpointInputError(report.error_message() + f"; report: {out / REPORT_FILE}")
    try:
        write_checkpoint(out, config, mapped)
    except OSError as e:
        raise CheckpointError(f"cannot write {out}: {e}") from None
    return report
