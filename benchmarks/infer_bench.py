"""`hawk describe` speed on this machine: the breakdown of one warm describe of a new video,
a cold-process figure, and a study of the decode path's options.

    python benchmarks/infer_bench.py                        # 16 frames, 64 new tokens, the embedded default
    python benchmarks/infer_bench.py --frames 32 --max-new-tokens 128 --model runs/ucf/
    python benchmarks/infer_bench.py --no-decode-study      # only the breakdown and the cold figure
    python benchmarks/infer_bench.py --compile              # also bf16 + static cache + torch.compile
    python benchmarks/infer_bench.py --first-run            # also a cold run with an empty cache

1. **Warm breakdown** (`hawk chat` / `hawk serve` / `hawk predict` keep the model loaded): the
   model is loaded and warmed on one clip, then a *new* clip is described and each stage timed:
   decode video (sampling 2T frames), flow (Farneback + magnitude mask), encode (both frozen
   encoders), prefill (the prompt with the visual tokens, up to the first new token), decode
   (the other new tokens; tokens/s) and the whole describe end to end. Generation is forced to
   exactly --max-new-tokens (no early end-of-text) so runs compare.
2. **Cold**: a fresh `python -m hawk_cli describe --json` process, as a user runs it (imports,
   model load from the on-disk cache, everything); the median of --cold-runs.
3. **Decode study**: the LLM alone on the same prompt embeddings, greedy, exactly
   --max-new-tokens tokens: float32 and bfloat16 weights, transformers' dynamic and static KV
   caches, a bare greedy loop over the forward pass (fewer Python steps a token than
   `generate`), dynamic int8 linear layers (`--quantize int8`), and with --compile torch.compile
   over the bf16 model with a static cache. For each: prefill, decode tokens/s, total, and how
   far its greedy tokens agree with float32's (the common prefix, over every clip).

Clips: the three in ../shared/data/videos ($HAWK_SHARED_DATA overrides ../shared/data) and
examples/sample.mp4. Threads: one torch thread (the CLI's default on small machines) unless
--threads. `--dtype` is the model's precision (auto: a bfloat16 LLM on CPUs with native
bfloat16, see hawk_core.runtime.inference_dtypes). Figures scale with how busy the machine
is: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HAWK_SHARED_DATA", ROOT.parent / "shared" / "data"))


def clips(args: argparse.Namespace) -> list[Path]:
    found = sorted((SHARED / "videos").glob("*.mp4")) + [ROOT / "examples" / "sample.mp4"]
    found = [p for p in found if p.exists()]
    if args.video:
        found = [args.video] + [p for p in found if p != args.video]
    if len(found) < 2:
        raise SystemExit(f"need two clips (a warm-up and a new one); found {len(found)} under {SHARED}/videos and examples/")
    return found


def load_avg() -> str:
    return f"{os.getloadavg()[0]:.1f}"


# ---- 2. cold -------------------------------------------------------------------------------


def cold(video: Path, args: argparse.Namespace, env: dict | None = None) -> dict:
    """A fresh `python -m hawk_cli describe --json` process: wall time includes imports."""
    cmd = [sys.executable, "-m", "hawk_cli", "describe", str(video), "--frames", str(args.frames),
           "--max-new-tokens", str(args.max_new_tokens), "--dtype", args.dtype, "--json"]
    if args.model:
        cmd += ["--model", args.model]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"describe failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    d = json.loads(p.stdout)
    return {"wall_s": wall, **d["timings"]}


# ---- 1. warm breakdown ---------------------------------------------------------------------


def prompt_embeddings(predictor, prepared):
    """(embeddings, attention mask) of the describe prompt with the video's visual tokens, as
    :meth:`HawkModel.generate` builds them."""
    from hawk_core.model.text import TextSample

    m = predictor.model
    batch = m.collate([TextSample(predictor.describe_prompt(), frame_times=prepared.frame_times)], for_generation=True).to(m.device)
    tok_v, _, tok_m, _ = m.visual_tokens(prepared.feats_v, prepared.feats_m)
    return m.embed(batch.input_ids, tok_v, tok_m), batch.attention_mask


def greedy(llm, embeds, mask, n: int, tokenizer, **kwargs) -> tuple[float, list[int]]:
    """Seconds for exactly ``n`` greedy tokens, and the tokens."""
    import torch

    dtype = next(llm.parameters()).dtype
    dtype = dtype if dtype.is_floating_point else torch.float32
    if kwargs.pop("manual_loop", False):
        return manual_greedy(llm, embeds.to(dtype), mask, n)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = llm.generate(inputs_embeds=embeds.to(dtype), attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                           do_sample=False, temperature=None, top_p=None, top_k=None, num_beams=1,
                           pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **kwargs)
    return time.perf_counter() - t0, out[0].tolist()


def manual_greedy(llm, embeds, mask, n: int) -> tuple[float, list[int]]:
    """Greedy decoding as a bare loop over the LLM's forward with its KV cache (no logits
    processors, stopping criteria or streamer): what "fewer Python-side steps per token" buys."""
    import torch

    t0 = time.perf_counter()
    ids: list[int] = []
    with torch.inference_mode():
        out = llm(inputs_embeds=embeds, attention_mask=mask, use_cache=True, logits_to_keep=1)
        for _ in range(n):
            nxt = out.logits[:, -1].argmax(-1)
            ids.append(int(nxt))
            if len(ids) == n:
                break
            mask = torch.cat([mask, mask.new_ones(mask.size(0), 1)], 1)
            out = llm(input_ids=nxt[:, None], attention_mask=mask, past_key_values=out.past_key_values, use_cache=True, logits_to_keep=1)
    return time.perf_counter() - t0, ids


def warm_breakdown(predictor, warmup: Path, video: Path, args: argparse.Namespace) -> dict:
    from hawk_core.inference.predictor import GenerationOptions
    from hawk_core.media.motion import extract_motion
    from hawk_core.media.video import sample_clip

    n = args.max_new_tokens
    options = GenerationOptions(max_new_tokens=n)
    prepared = predictor.prepare(warmup)  # warm every code path once
    predictor.describe(prepared, options)
    emb, mask = prompt_embeddings(predictor, prepared)
    greedy(predictor.model.llm, emb, mask, 2, predictor.tokenizer)

    cfg = predictor.config.data
    t0 = time.perf_counter()
    clip = sample_clip(video, predictor.num_frames, cfg.size, resize=cfg.resize, with_prev=predictor.has_motion, min_frames=2,
                       index_rule=cfg.frame_indices, short_clips=cfg.short_clips)  # as data.features.sample_for_model
    decode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    motion = extract_motion(clip, cfg.motion) if predictor.has_motion else None
    flow_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    prepared = predictor.encode([(clip, motion)])[0]
    encode_s = time.perf_counter() - t0
    emb, mask = prompt_embeddings(predictor, prepared)
    prefill_s, _ = greedy(predictor.model.llm, emb, mask, 1, predictor.tokenizer)
    gen_s, _ = greedy(predictor.model.llm, emb, mask, n, predictor.tokenizer)
    # the whole describe of the new clip, end to end, as `hawk chat` / `serve` run one
    t0 = time.perf_counter()
    answer = predictor.describe(predictor.prepare(video), options)
    total_s = time.perf_counter() - t0
    return {"decode_video_s": decode_s, "flow_s": flow_s, "encode_s": encode_s, "prefill_s": prefill_s,
            "tokens": n, "tokens_per_s": (n - 1) / max(gen_s - prefill_s, 1e-9), "generate_s": gen_s,
            "total_s": total_s, "answer_tokens": answer.tokens}


# ---- 3. decode study -----------------------------------------------------------------------


def common_prefix(a: list[int], b: list[int]) -> int:
    k = 0
    for x, y in zip(a, b):
        if x != y:
            break
        k += 1
    return k


def decode_variants(predictor, args: argparse.Namespace):
    """(name, llm, generate kwargs) for each decode option studied."""
    import torch

    if predictor.llm_dtype == torch.float32:
        fp32 = predictor.model.llm
    else:  # a float32 copy loaded afresh (not cast back from bfloat16, which would lose the low bits)
        from hawk_core.model.backbones import build_llm

        if predictor.config.llm.lora.enabled:
            raise SystemExit("the decode study needs --dtype float32 for a model with LoRA on the LLM")
        fp32, _ = build_llm(predictor.config.llm, seed=predictor.config.seed, dtype=torch.float32)
    bf16 = copy.deepcopy(fp32).to(torch.bfloat16)
    yield "float32, dynamic cache", fp32, {}
    yield "float32, static cache", fp32, {"cache_implementation": "static"}
    yield "float32, bare greedy loop", fp32, {"manual_loop": True}
    yield "bfloat16 weights, dynamic cache", bf16, {}
    yield "bfloat16 weights, static cache", bf16, {"cache_implementation": "static"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(fp32), {torch.nn.Linear}, dtype=torch.qint8)
    yield "int8 dynamic linear (--quantize int8)", int8, {}
    if args.compile:
        compiled = copy.deepcopy(bf16)
        compiled.forward = torch.compile(compiled.forward, dynamic=False)
        yield "bfloat16 + static cache + torch.compile", compiled, {"cache_implementation": "static"}


def decode_study(predictor, videos: list[Path], args: argparse.Namespace) -> None:
    n = args.max_new_tokens
    prompts = [prompt_embeddings(predictor, predictor.prepare(v)) for v in videos]
    tok = predictor.tokenizer
    print(f"\n3. decode study: the LLM alone, {n} greedy tokens after the describe prompt; timed on {videos[0].name}, "
          f"agreement with float32 over {len(videos)} clips (load average {load_avg()})")
    print(f"{'variant':42} {'prefill s':>9} {'tok/s':>7} {'total s':>8} {'same tokens':>12} {'identical':>10}  first words")
    reference: list[list[int]] = []
    for name, llm, kw in decode_variants(predictor, args):
        t0 = time.perf_counter()
        greedy(llm, *prompts[0], 2, tok, **kw)  # warm-up (compiles under torch.compile)
        warm_s = time.perf_counter() - t0
        prefill = statistics.median(greedy(llm, *prompts[0], 1, tok, **kw)[0] for _ in range(args.reps))
        runs = [greedy(llm, *prompts[0], n, tok, **kw) for _ in range(args.reps)]
        total = statistics.median(t for t, _ in runs)
        outs = [runs[0][1]] + [greedy(llm, *p, n, tok, **kw)[1] for p in prompts[1:]]
        if not reference:
            reference = outs
        same = sum(common_prefix(o, r) for o, r in zip(outs, reference)) / (n * len(outs))
        identical = sum(o == r for o, r in zip(outs, reference))
        words = tok.decode(outs[0], skip_special_tokens=True).strip().replace("\n", " ")[:48]
        note = f" (warm-up {warm_s:.0f} s)" if warm_s > 10 else ""
        print(f"{name:42} {prefill:>9.3f} {(n - 1) / max(total - prefill, 1e-9):>7.1f} {total:>8.2f} "
              f"{same:>11.0%} {identical:>5}/{len(outs):<4}  {words!r}{note}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=None, help="the new clip described warm (default: the first shared clip)")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--model", default=None, help="--model for describe (default: the embedded default)")
    ap.add_argument("--dtype", default="auto", help="the model's precision, as `hawk describe --dtype` (default auto)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--reps", type=int, default=3, help="timed repeats per decode variant (median)")
    ap.add_argument("--cold-runs", type=int, default=2)
    ap.add_argument("--no-decode-study", action="store_true")
    ap.add_argument("--compile", action="store_true", help="also torch.compile (a minute or more of compiling)")
    ap.add_argument("--first-run", action="store_true", help="also time a cold run with an empty cache (LLM conversion)")
    args = ap.parse_args()
    videos = clips(args)
    new, warmup = videos[0], videos[1]

    sys.path.insert(0, str(ROOT))
    from hawk_cli._common import set_torch_threads

    set_torch_threads(args.threads)
    from hawk_core.inference.predictor import Predictor

    print(f"model={args.model or 'default (embedded)'}; frames={args.frames}; max_new_tokens={args.max_new_tokens}; dtype={args.dtype}")
    print(f"cpus: {os.cpu_count()}; load average at start: {load_avg()}")
    t0 = time.perf_counter()
    predictor = Predictor.load(args.model, dtype=args.dtype, frames=args.frames)
    load_s = time.perf_counter() - t0
    print(f"model load {load_s:.2f} s; encoders {str(predictor.dtype).replace('torch.', '')} weights, "
          f"LLM {str(predictor.llm_dtype).replace('torch.', '')} weights")

    r = warm_breakdown(predictor, warmup, new, args)
    print(f"\n1. warm describe of a new clip ({new.name}; warmed up on {warmup.name}; load average {load_avg()})")
    for label, key in (("decode video", "decode_video_s"), ("flow + mask", "flow_s"), ("encode (both branches)", "encode_s"),
                       ("prefill", "prefill_s")):
        print(f"   {label:28} {r[key]:6.2f} s")
    print(f"   {'generate ' + str(r['tokens']) + ' tokens':28} {r['generate_s']:6.2f} s   ({r['tokens_per_s']:.1f} tokens/s after the first)")
    print(f"   {'total (describe, end to end)':28} {r['total_s']:6.2f} s   (its answer: {r['answer_tokens']} tokens)")

    if args.first_run:
        with tempfile.TemporaryDirectory() as cache:
            c = cold(new, args, env={"HAWK_CACHE": cache})
        print(f"\nfirst run (empty cache, LLM converted): {c['wall_s']:.1f} s wall, of which model load {c['load_s']:.1f} s")
    rows = [cold(new, args) for _ in range(args.cold_runs)]
    wall = statistics.median(c["wall_s"] for c in rows)
    c = rows[-1]
    print(f"\n2. cold `hawk describe` (fresh process, models cached on disk; median of {len(rows)}; load average {load_avg()}): "
          f"{wall:.2f} s wall; in-process load {c['load_s']:.2f} s, frames+motion {c['frames_motion_s']:.2f} s, "
          f"encode {c['encode_s']:.2f} s, generate {c['generate_s']:.2f} s ({c['new_tokens']} tokens)")

    if not args.no_decode_study:
        decode_study(predictor, videos, args)


if __name__ == "__main__":
    main()
