#!/usr/bin/env bash
# One prepared GPU check (CUDA): tiny-preset training in bf16 and fp16, exact resume on the
# GPU, describe on CUDA from the trained run, and the frozen EfficientNet-Lite0 encoder's
# throughput. Needs: torch with CUDA, transformers, typer, rich, opencv, safetensors, peft.
#   bash benchmarks/gpu_check.sh [OUTDIR]
set -u
OUT="${1:-/tmp/hawk_gpu_check}"; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HAWK_CACHE=/tmp/hawk_cache HAWK_PROMPTS="$PWD/prompts"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"
python3 - <<'PY'
import sys, json, pathlib; sys.path.insert(0, '.')
from tests.helpers import moving_square_frames, write_video
d = pathlib.Path('/tmp/hawk_gpu_data'); d.mkdir(exist_ok=True); recs = []
for i in range(6):
    write_video(d / f'v{i}.mp4', moving_square_frames(n=24, size=96, step=1 + i))
    recs.append({"video": f"v{i}.mp4", "description": f"a white square moves right at speed {i}", "QA": [{"q": "what moves?", "a": "a white square"}]})
(d / 'h.json').write_text(json.dumps(recs))
with open(d / 't.jsonl', 'w') as f:
    for r in recs: f.write(json.dumps({"task": "description", "anwser": r["description"]}) + "\n")
PY
D=/tmp/hawk_gpu_data
A="--preset tiny --data $D/h.json --ablate ml --batch-size 2 --lr 1e-3 --warmup 2 --eval-every 3 --save-every 3 --device cuda"
python3 -m hawk_cli train $A --out $OUT/r1 --steps 8 --json | tail -3; echo "train bf16 rc=$?"
python3 -m hawk_cli train $A --out $OUT/r2 --steps 3 --json > /dev/null; echo "train part rc=$?"
python3 -m hawk_cli train --data $D/h.json --out $OUT/r2 --steps 8 --resume --device cuda --json > /dev/null; echo "resume rc=$?"
python3 - "$OUT" <<'PY'
import json, sys
o = sys.argv[1]
a = [json.loads(l) for l in open(f'{o}/r1/metrics.jsonl')]; b = [json.loads(l) for l in open(f'{o}/r2/metrics.jsonl')]
same = all(x["loss"] == y["loss"] for x, y in zip(a, b)) and len(a) == len(b)
print("precision", json.load(open(f'{o}/r1/run.json'))["train"]["precision"], "steps", len(a), len(b), "resume identical:", same)
PY
python3 -m hawk_cli train $A --out $OUT/r3 --steps 3 --precision fp16 --json | tail -2; echo "train fp16 rc=$?"
python3 -m hawk_cli describe $D/v0.mp4 --model $OUT/r1 --device cuda --max-new-tokens 8 --json | head -c 600; echo; echo "describe cuda rc=$?"
python3 benchmarks/train_bench.py --presets tiny --device cuda --clip $D/v0.mp4 --texts $D/t.jsonl --steps 10 --precision bf16
python3 benchmarks/train_bench.py --presets tiny --device cuda --clip $D/v0.mp4 --texts $D/t.jsonl --steps 10 --precision bf16 --batch-size 32
python3 - <<'PY'
import time, torch
from hawk_core.embedded import load_efficientnet_lite0
m = load_efficientnet_lite0().cuda().to(torch.bfloat16)
x = torch.randn(64, 3, 224, 224, device='cuda', dtype=torch.bfloat16)
with torch.no_grad():
    for _ in range(3): m.extract_features(x)
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(10): m.extract_features(x)
    torch.cuda.synchronize(); dt = (time.perf_counter() - t) / 10
print(f"EfficientNet-Lite0 bf16 on GPU: {64 / dt:.0f} frames/s ({dt * 1000:.1f} ms per 64 frames = two 32-frame branches)")
PY
