"""Import a checkpoint of the authors' release (trainable weights only; the key map below is read from the release's model code).

Key-rename map, release -> hawk (``B`` = ``branches.video`` for the appearance names,
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

Skipped (reported, not loaded): the BERT text-side weights the queries never use
(``intermediate.*``, ``output.*``, ``embeddings.word_embeddings/position_embeddings``,
``cls.*``) and ``query_tokens_motion`` (a copy of the frozen image Q-Former's queries; hawk
uses the pretrained BLIP-2 ones for both branches). Everything else must map onto the model
with the same shape (the ``paper`` preset), or a CheckpointError names the keys.

The release never trains/initialises its motion video Q-Former from pretrained weights;
``motion_from_appearance=True`` fills the motion branch with the appearance branch's
weights where the file has no motion weights.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..errors import CheckpointError

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
_SKIP = re.compile(
    r"^(video_Qformer(_motion)?\.(cls\.|bert\.embeddings\.(word_embeddings|position_embeddings|position_ids)"
    r"|bert\.encoder\.layer\.\d+\.(intermediate|output)\.)|query_tokens_motion$)"
)


def rename_release_key(key: str) -> str | None:
    """The hawk name of a release key, or None when the key is skipped or unknown."""
    if _SKIP.match(key):
        return None
    m = re.match(r"^video_Qformer(_motion)?\.bert\.(.*)$", key)
    if m:
        branch = "motion" if m.group(1) else "video"
        rest = m.group(2)
        if rest.startswith("embeddings.LayerNorm."):
            return f"branches.{branch}.video_qformer.norm.{rest.rsplit('.', 1)[1]}"
        lm = re.match(r"^encoder\.layer\.(\d+)\.(.*)$", rest)
        if not lm:
            return None
        for pat, rep in _LAYER_RULES:
            new, n = re.subn("^" + pat, rep, lm.group(2))
            if n:
                return f"branches.{branch}.video_qformer.layers.{lm.group(1)}.{new}"
        return None
    simple = {
        "video_query_tokens": "branches.video.video_qformer.query_tokens",
        "video_query_tokens_motion": "branches.motion.video_qformer.query_tokens",
        "video_frame_position_embedding.weight": "branches.video.video_qformer.frame_position.weight",
        "video_frame_position_embedding_motion.weight": "branches.motion.video_qformer.frame_position.weight",
    }
    if key in simple:
        return simple[key]
    m = re.match(r"^llama_proj(_motion)?_(0|last)\.(.*)$", key)
    if m:
        branch = "motion" if m.group(1) else "video"
        if m.group(2) == "0":
            return f"branches.{branch}.projection.proj_in.{m.group(3)}"
        sub = {"encoder_0": "shared.0", "decoder_2": "to_llm", "encoder_1": "to_tight"}
        head, _, tail = m.group(3).partition(".")
        if head in sub:
            return f"branches.{branch}.projection.{sub[head]}.{tail}"
    return None


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or a torch file ({'model': ...} unwrapped)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path}: cannot read checkpoint ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: not a state dict")
    return obj


def import_release_state(model, state: dict[str, torch.Tensor], *, motion_from_appearance: bool = False) -> dict:
    """Load a release state dict into ``model`` (a HawkModel). Returns
    ``{"loaded": [...], "skipped": [...], "filled_from_appearance": [...]}``; a CheckpointError
    names unknown keys, shape mismatches, and (non-strict nothing) trainable keys left unset."""
    expected = {n: p for n, p in model.named_parameters() if p.requires_grad}
    mapped: dict[str, torch.Tensor] = {}
    skipped, unknown = [], []
    for k, v in state.items():
        new = rename_release_key(k)
        if new is None:
            (skipped if _SKIP.match(k) else unknown).append(k)
        elif new not in expected:
            if new.startswith("branches.motion.") and not model.use_motion:
                skipped.append(k)
            else:
                unknown.append(k)
        else:
            mapped[new] = v
    if unknown:
        raise CheckpointError(f"release checkpoint keys with no place in this model: {', '.join(unknown[:5])}"
                              + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""))
    filled = []
    if motion_from_appearance:
        for name in expected:
            if name.startswith("branches.motion.") and name not in mapped:
                src = name.replace("branches.motion.", "branches.video.", 1)
                if src in mapped:
                    mapped[name] = mapped[src]
                    filled.append(name)
    model.load_trainable_state(mapped, source="release checkpoint", strict=True)
    return {"loaded": sorted(mapped), "skipped": skipped, "filled_from_appearance": filled}


def import_release_checkpoint(model, path: str | Path, *, motion_from_appearance: bool = False) -> dict:
    """:func:`import_release_state` from a file (.pth/.pt/.bin/.safetensors)."""
    return import_release_state(model, read_state(path), motion_from_appearance=motion_from_appearance)
