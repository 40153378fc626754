#!/usr/bin/env bash
# The GPU machine's one script (issue: the GPU), run from the carried binary in one go:
#   1. `alambic check`: the golden checks of models, loss terms and AdamW, every variable's
#      gradient and resume equivalence, on the device (tolerances 10x the CPU's);
#   2. side by side with PyTorch + transformers on the same card, alternating per case:
#      MiniLM-L6 and a random-init CodeBERT shape (12 x 768, vocabulary 50,265), batch 32,
#      seq 256 and 512, train and infer (f32; bf16 is refused until mixed precision lands);
#   3. the study's all-window teacher row on cgt_dasp, one epoch.
# It writes $OUT/device-check.json and prints a short table last.
#
# On the CPU machine, first:   scripts/build-cuda.sh && scripts/device-check.sh prepare
#   (target/device-carry/: the CUDA binary, xz-compressed; the fixtures; cgt_dasp gzipped;
#   all-MiniLM-L6-v2 in f16 — 64 MiB at most in all), then carry `target/device-carry`.
# On the GPU machine:          scripts/device-check.sh run
# Rehearsal on the CPU:        scripts/device-check.sh run --dry-run --device cpu
#   (the CPU build, tiny shapes, two steps of the teacher row: it checks the plumbing only).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
shift || true
device=cuda dry=0
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
carry=target/device-carry
out=${OUT:-target/device-check}
mkdir -p "$out"

prepare() {
  rm -rf "$carry" && mkdir -p "$carry"
  xz -T2 -6 -c target/cuda-release/alambic > "$carry/alambic.xz"
  cp -r ../shared/fixtures "$carry/fixtures"
  gzip -9 -c ../shared/datasets/cgt_dasp/cgt_dasp.jsonl > "$carry/cgt_dasp.jsonl.gz"
  # f16 halves the weights (the loader converts to f32); the tokenizer and config as they are.
  python3 - "$carry/minilm" <<'EOF'
import json, shutil, sys
from pathlib import Path
import numpy as np
from safetensors.numpy import load_file, save_file
src, dst = Path("target/models/all-minilm-l6-v2"), Path(sys.argv[1])
dst.mkdir(parents=True)
tensors = {k: v.astype(np.float16) for k, v in load_file(src / "model.safetensors").items()}
save_file(tensors, dst / "model.safetensors")
for f in src.iterdir():
    if f.name != "model.safetensors" and f.is_file():
        shutil.copy(f, dst / f.name)
EOF
  du -sh "$carry"
}

libraries() {
  # The CUDA libraries (cuBLAS, cuRAND, cudart) of the Python environment's nvidia packages.
  local site
  site=$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null || true)
  for s in $site; do
    for lib in "$s"/nvidia/*/lib "$s"/nvidia/cu*/lib; do
      [ -d "$lib" ] && LD_LIBRARY_PATH=$lib:${LD_LIBRARY_PATH:-}
    done
  done
  export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
}

unpack() {
  if [ "$dry" = 1 ]; then
    bin=target/release/alambic fixtures=../shared/fixtures
    data=../shared/datasets/cgt_dasp/cgt_dasp.jsonl minilm=target/models/all-minilm-l6-v2
    return
  fi
  bin=$out/alambic fixtures=$carry/fixtures data=$out/cgt_dasp.jsonl minilm=$carry/minilm
  xz -dc "$carry/alambic.xz" > "$bin" && chmod +x "$bin"
  gzip -dc "$carry/cgt_dasp.jsonl.gz" > "$data"
}

side_by_side() {
  local batch=32 seqs="256 512" steps=10 warmup=3
  [ "$dry" = 1 ] && batch=2 seqs=32 steps=1 warmup=1
  : > "$out/side-by-side.txt"
  for seq in $seqs; do
    for phase in train infer; do
      for model in minilm codebert; do
        local ours theirs=$model
        [ "$model" = minilm ] && ours=$minilm theirs=$minilm
        [ "$model" = codebert ] && ours="scratch:bert-base?vocab=50265"
        python3 scripts/torch_gpu_baseline.py "$theirs" "$seq" "$phase" --batch $batch \
          --steps $steps --warmup $warmup --device "$device" | grep RESULT \
          | sed "s/model=[^ ]*/model=$model/" >> "$out/side-by-side.txt" || echo "torch $model $seq $phase failed" >&2
        "$bin" bench --device "$device" --model "$ours" --seq "$seq" --batch $batch \
          --phase "$phase" --steps $steps --warmup $warmup 2>/dev/null \
          | python3 -c "import json,sys; d=json.load(sys.stdin); r=d['models'][0]; print(f\"RESULT framework=alambic model=$model seq=$seq batch=$batch mode=$phase device=$device samples_per_s={r['samples_per_s']:.2f}\")" \
          >> "$out/side-by-side.txt" || echo "alambic $model $seq $phase failed" >&2
      done
    done
  done
}

teacher_row() {
  local sets=(--set "dataset.file=\"$data\"" --set "teacher.model=\"$minilm\"" --set train.epochs=1)
  [ "$dry" = 1 ] && sets+=(--set train.max_steps=2 --set dataset.limit=64)
  local t0=$SECONDS
  "$bin" train --config study/configs/windows.toml --role teacher --device "$device" \
    --out "$out/runs" "${sets[@]}" > "$out/teacher-row.log" 2>&1 || echo "teacher row failed" >&2
  echo $((SECONDS - t0)) > "$out/teacher-row.seconds"
}

report() {
  python3 - "$out" "$device" <<'EOF'
import json, re, sys
from pathlib import Path
out, device = Path(sys.argv[1]), sys.argv[2]
check = json.loads((out / "check.json").read_text()) if (out / "check.json").exists() else {"checks": []}
rows = {}
for line in (out / "side-by-side.txt").read_text().splitlines():
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    key = (kv["model"], kv["seq"], kv["mode"])
    rows.setdefault(key, {})[kv["framework"]] = float(kv["samples_per_s"])
runs = sorted((out / "runs").glob("*/summary.json"))
summary = json.loads(runs[-1].read_text()) if runs else None
doc = {"device": device, "checks": check["checks"],
       "side_by_side": [{"model": m, "seq": s, "phase": p, **v} for (m, s, p), v in rows.items()],
       "teacher_row": summary and {"test_macro_f1": (summary.get("test") or {}).get("macro_f1"),
                                   "train_seconds": summary.get("train_seconds")}}
(out / "device-check.json").write_text(json.dumps(doc, indent=2))
passed = sum(c["pass"] for c in check["checks"])
print(f"\nchecks: {passed} of {len(check['checks'])} passed on {device}")
print(f"{'model':<10}{'seq':>5} {'phase':<6}{'torch/s':>10}{'alambic/s':>11}{'ratio':>7}")
for (m, s, p), v in rows.items():
    t, a = v.get("torch"), v.get("alambic")
    ratio = f"{a / t:.2f}x" if t and a else "-"
    print(f"{m:<10}{s:>5} {p:<6}{t or 0:>10.2f}{a or 0:>11.2f}{ratio:>7}")
if doc["teacher_row"]:
    print(f"teacher row (all windows, 1 epoch): {doc['teacher_row']}")
EOF
}

case $mode in
  prepare) prepare ;;
  run)
    libraries
    unpack
    "$bin" check --device "$device" --fixtures "$fixtures" --json "$out/check.json" \
      > "$out/check.txt" 2>&1 || echo "some checks failed (see $out/check.txt)" >&2
    side_by_side
    teacher_row
    report
    ;;
  *) echo "usage: scripts/device-check.sh prepare | run [--device cuda|cpu] [--dry-run]" >&2; exit 2 ;;
esac
