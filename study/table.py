#!/usr/bin/env python3
"""STUDY.md's tables from the committed run summaries (study/runs/<row>/), standard library only.

    python3 study/table.py            # the Markdown tables on stdout

A row named NAME@sN is NAME run again with train.seed = N; rows with seeds are also shown as
mean ± spread over their seeds. study/rows.tsv gives each row's wall-clock seconds.
"""
import json
import random
import statistics
import sys
import tomllib
from pathlib import Path

STUDY = Path(__file__).resolve().parent

# Rows in the order the table shows them, with what each one is.
LABELS = {
    "teacher": "teacher: MiniLM-L6 fine-tuned",
    "teacher-long": "teacher: MiniLM-L6 fine-tuned, 6 epochs at lr 1e-4",
    "alone-246": "derive 2,4,6 (no pooler), labels only",
    "alone-246p": "derive 2,4,6 + pooler, labels only",
    "alone-36": "derive 3,6 (no pooler), labels only",
    "alone-tiny": "scratch tinybert-4l-312d, labels only",
    "moe-up-36": "MoE on derive 3,6: 4 upcycled experts, top-1, labels only",
    "moe-split-36": "MoE on derive 3,6: 4 split experts (+ shared), top-1, labels only",
    "bn-132": "bottleneck 132 on all 6 layers (SVD of the teacher), labels only",
    "bn-132-tb": "bottleneck 132 on all 6 layers, TinyBERT two stages",
    "bn-132-pg": "bottleneck 132 on all 6 layers, progressive (1 epoch per layer)",
    "bn3-132": "bottleneck 132 on derive 2,4,6, labels only",
    "bn3-132-tb": "bottleneck 132 on derive 2,4,6, TinyBERT two stages",
    "bn3-132-pg": "bottleneck 132 on derive 2,4,6, progressive (1 epoch per layer)",
    "moe-up-36-tb": "MoE on derive 3,6: 4 upcycled experts, top-1, TinyBERT two stages",
    "moe-split-36-tb": "MoE on derive 3,6: 4 split experts (+ shared), top-1, TinyBERT two stages",
    "kd-246": "derive 2,4,6, response KD",
    "kd-246p": "derive 2,4,6 + pooler, response KD",
    "kd-36": "derive 3,6, response KD",
    "kd-tiny": "scratch tinybert-4l-312d, response KD",
    "tb-246": "derive 2,4,6, TinyBERT two stages",
    "tb-246p": "derive 2,4,6 + pooler, TinyBERT two stages",
    "tb-36": "derive 3,6, TinyBERT two stages",
    "gtb-36": "derive 3,6 of the adapted encoder, general distillation, TinyBERT two stages from the adapted teacher",
    "dtb-36": "derive 3,6 of the adapted encoder, TinyBERT two stages from the adapted teacher",
    "gtb-tiny": "scratch tinybert-4l-312d, general distillation, TinyBERT two stages from the adapted teacher",
    "dtb-tiny": "scratch tinybert-4l-312d, TinyBERT two stages from the adapted teacher",
    "tb-tiny": "scratch tinybert-4l-312d, TinyBERT two stages (projection)",
    "tb-36-pv": "derive 3,6, TinyBERT two stages, vocabulary pruned",
    "tb-36-e128": "derive 3,6, TinyBERT two stages, pruned, embeddings factorised E = 128",
    "tb-36-e64": "derive 3,6, TinyBERT two stages, pruned, embeddings factorised E = 64",
    "tb-6-pv": "derive 6 (1 layer), TinyBERT two stages, pruned",
    "tb-6-e128": "derive 6 (1 layer), TinyBERT two stages, pruned, E = 128",
    "q-tb-36-e128": "derive 3,6, TinyBERT two stages, pruned, E = 128, int8",
    "q-tb-6-e128": "derive 6 (1 layer), TinyBERT two stages, pruned, E = 128, int8",
    "tb-n192-pv": "scratch 2 × 192 (12 heads), TinyBERT two stages, pruned",
    "q-teacher": "teacher, int8",
    "q-tb-36": "derive 3,6, TinyBERT two stages, int8",
    "q-tb-36-pv": "derive 3,6, TinyBERT two stages, pruned, int8",
    "q-tb-36-e64": "derive 3,6, TinyBERT two stages, pruned, E = 64, int8",
    "q-tb-6-pv": "derive 6 (1 layer), TinyBERT two stages, pruned, int8",
    "w-teacher": "teacher, all windows",
    "w-teacher-mean": "teacher, all windows, mean of the windows' logits",
    "w-kd-246": "derive 2,4,6, response KD, all windows",
    "w-dapt-teacher": "adapted teacher, all windows",
}


def rows():
    """(row, run folder, seconds) in the order they first ran; a row run again on another
    machine (run folders are machine-local) is shown once, as its last run."""
    out = {}
    path = STUDY / "rows.tsv"
    for line in path.read_text().splitlines():
        name, folder, seconds = line.split("\t")
        out[name] = (name, folder, int(seconds))
    return list(out.values())


def summary(name):
    return json.loads((STUDY / "runs" / name / "summary.json").read_text())


def f3(x):
    return "–" if x is None else f"{x:.3f}"


def interval(split):
    ci = split.get("macro_f1_ci")
    if not ci:
        return f3(split["macro_f1"])
    return f"{split['macro_f1']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]"


def is_teacher(base):
    """Teacher rows: `teacher`, its variants `teacher-…`, the all-window `w-teacher…`, and
    the teacher in int8."""
    return base in ("teacher", "q-teacher") or base.startswith(("teacher-", "w-teacher"))


def size_mb(name, s):
    """The weights in MB: int8 rows from quantize.json (int8 layers plus the f32 rest), the
    others 4 bytes per parameter."""
    q = STUDY / "runs" / name / "quantize.json"
    if q.exists():
        return json.loads(q.read_text())["int8_mb"]
    return s["parameters"] * 4 / 1e6


def shape_row(name):
    """The labels-only row whose checkpoint `alambic bench` timed for this row's shape."""
    base = name.partition("@s")[0]
    if is_teacher(base):
        return "teacher"
    if base.startswith("moe-"):
        return base.removesuffix("-tb")
    if base.startswith(("q-", "tb-36-", "tb-6", "tb-n192")):
        return base
    if base.startswith("bn"):
        return base.split("-")[0] + "-" + base.split("-")[1]
    return "alone-" + base.split("-", 1)[1].removesuffix("p")


def checkpoint_rows():
    """Row by the best-checkpoint folder `alambic bench` timed; every run of a row counts (a
    row run again elsewhere was timed under its first folder)."""
    lines = (STUDY / "rows.tsv").read_text().splitlines()
    return {f"{line.split(chr(9))[1]}/checkpoints/best": line.split(chr(9))[0] for line in lines}


def bench_ms():
    """Inference ms per contract by timed row, from study/speed.json (`alambic bench --phase
    infer --seq 128 --batch 16` on each shape's checkpoint, one process at a time on a quiet
    machine): the in-run latency of summary.json moves by ±30 % with whatever else runs."""
    folders = checkpoint_rows()
    out = {}
    for name in ("speed.json", "speed-moe.json", "speed-bn.json", "speed-small-b16.json"):
        path = STUDY / name
        if not path.exists():
            continue
        for rate in json.loads(path.read_text())["models"]:
            row = folders.get(rate["case"]["model"])
            if row is not None:
                out[row] = 1e3 / rate["samples_per_s"]
    return out


def teacher_f1(name):
    """The teacher a row is compared with: the all-window teacher for all-window rows, the
    teacher of the same seed for a row run with another seed, the held-out-source teacher for
    held-out-source rows."""
    base = "w-teacher" if name.startswith("w-") else "ho-teacher" if name.startswith("ho-") else "teacher"
    _, at, seed = name.partition("@s")
    for candidate in ([f"{base}@s{seed}"] if at else []) + [base]:
        try:
            return summary(candidate)["test"]["macro_f1"]
        except FileNotFoundError:
            continue
    return None


def main_table(done):
    print(
        "| row | model | parameters | MB | ms / contract | valid macro-F1 | test macro-F1 [95 % CI] "
        "| test accuracy | test ROC-AUC | share of teacher F1 | agreement with teacher | compute |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    timed = bench_ms()
    for name, _, seconds in done:
        s = summary(name)
        # All-window rows read ~6 windows of 256 tokens per contract: their own test pass.
        ms = s["latency_ms_per_contract"] if name.startswith("w-") else timed.get(shape_row(name))
        base, _, seed = name.partition("@s")
        label = LABELS.get(base, base) + (f" (seed {seed})" if seed else "")
        test = s["test"]
        t = teacher_f1(name)
        kept = f"{test['macro_f1'] / t:.0%}" if t and not is_teacher(base) else "–"
        agreement = (s.get("teacher_agreement") or {}).get("test")
        print(
            f"| `{name}` | {label} | {s['parameters'] / 1e6:.1f} M | {size_mb(name, s):.0f} "
            f"| {'–' if ms is None else f'{ms:.1f}'} | {f3(s['valid']['macro_f1'])} | {interval(test)} "
            f"| {f3(test['accuracy'])} | {f3(test.get('roc_auc'))} | {kept} "
            f"| {'–' if agreement is None else f'{agreement:.3f}'} | {seconds / 60:.1f} min |"
        )


def small_table(done):
    """Issue 21's goal: at least 5x fewer parameters than the teacher, at least 8x faster per
    contract on the CPU, at least 97 % of its mean test macro-F1. Speeds come from
    study/speed-small-b16.json and -b1.json (`alambic bench`, seq 128, 2 threads), where the
    teacher (MiniLM f32) is timed in the same process: speed-ups are ratios within one run."""
    runs = {}
    for b in (16, 1):
        path = STUDY / f"speed-small-b{b}.json"
        if path.exists():
            runs[b] = json.loads(path.read_text())["models"]
    if 16 not in runs:
        return
    folders = checkpoint_rows()
    def ms_by_row(models):
        out, teacher = {}, None
        for rate in models:
            ms = 1e3 / rate["samples_per_s"]
            row = folders.get(rate["case"]["model"])
            if row is None:
                teacher = ms if teacher is None else min(teacher, ms)
            else:
                out[row] = ms
        return out, teacher
    ms16, t16 = ms_by_row(runs[16])
    ms1, t1 = ms_by_row(runs.get(1, []))
    teacher = summary("teacher")
    tp = teacher["parameters"]
    seeds = [n for n, _, _ in done if n.partition("@s")[0] == "teacher"]
    t_mean = statistics.mean(summary(n)["test"]["macro_f1"] for n in seeds)
    print()
    print("| row | parameters | × fewer | MB | × smaller | ms / contract, batch 16 | × faster | ms, batch 1 | × faster | test macro-F1 | share of teacher mean | goal |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    for name in [n for n, _, _ in done if n in ms16 or n == "teacher"]:
        s = summary(name)
        m16 = t16 if name == "teacher" else ms16.get(name)
        m1 = t1 if name == "teacher" else ms1.get(name)
        share = s["test"]["macro_f1"] / t_mean
        fewer = tp / s["parameters"]
        smaller = tp * 4 / 1e6 / size_mb(name, s)
        faster = t16 / m16 if m16 else None
        met = fewer >= 5 and faster is not None and faster >= 8 and share >= 0.97
        print(
            f"| `{name}` | {s['parameters'] / 1e6:.2f} M | {fewer:.1f} | {size_mb(name, s):.1f} | {smaller:.1f} "
            f"| {f3(m16)} | {'–' if not faster else f'{faster:.1f}'} | {f3(m1)} "
            f"| {'–' if not (m1 and t1) else f'{t1 / m1:.1f}'} | {f3(s['test']['macro_f1'])} "
            f"| {share:.0%} | {'**met**' if met else '–'} |"
        )


def seed_table(done):
    groups = {}
    for name, _, _ in done:
        groups.setdefault(name.partition("@s")[0], []).append(name)
    groups = {k: v for k, v in groups.items() if len(v) > 1}
    if not groups:
        return
    print()
    print("| row | seeds | valid macro-F1 | test macro-F1 | test ROC-AUC | share of teacher F1 (means) |")
    print("|---|--:|--:|--:|--:|--:|")
    def teacher_mean(base):
        # Held-out-source rows are measured against the teacher on the same split.
        names = groups.get("ho-teacher" if base.startswith("ho-") else "teacher")
        return names and statistics.mean(summary(n)["test"]["macro_f1"] for n in names)

    for base, names in groups.items():
        cols = []
        for pick in (
            lambda s: s["valid"]["macro_f1"],
            lambda s: s["test"]["macro_f1"],
            lambda s: s["test"].get("roc_auc"),
        ):
            xs = [pick(summary(n)) for n in names]
            cols.append(f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f} (min {min(xs):.3f}, max {max(xs):.3f})")
        mean = statistics.mean(summary(n)["test"]["macro_f1"] for n in names)
        t_mean = teacher_mean(base)
        share = f"{mean / t_mean:.0%}" if t_mean and base not in ("teacher", "ho-teacher") else "–"
        print(f"| `{base}` | {len(names)} | " + " | ".join(cols) + f" | {share} |")


def origin_table(done):
    """Test accuracy per source set (the dataset's `origin`, merged entries joined by `+`):
    most sets give only one class, so a model that learned a set's style scores its
    majority class there whatever the code does. Sets with fewer than 5 test contracts, and
    the extra seeds, are left out."""
    names = [
        n
        for n, _, _ in done
        if "@s" not in n and (STUDY / "runs" / n / "test_by_origin.json").exists()
    ]
    if not names:
        return
    by = {n: json.loads((STUDY / "runs" / n / "test_by_origin.json").read_text())["by"] for n in names}
    first = by[names[0]]
    groups = sorted((g for g in first if first[g]["n"] >= 5), key=lambda g: -first[g]["n"])
    print()
    print("| source set (test) | contracts | vulnerable | " + " | ".join(f"`{n}`" for n in names) + " |")
    print("|---|--:|--:|" + "--:|" * len(names))
    for g in groups:
        vulnerable = next(c["support"] for c in first[g]["per_class"] if c["class"] != "safe")
        cells = ["–" if g not in by[n] else f"{by[n][g]['accuracy']:.2f}" for n in names]
        print(f"| {g} | {first[g]['n']} | {vulnerable} | " + " | ".join(cells) + " |")


# Comparisons the study asks about: (row, against, what it tells).
PAIRS = [
    ("gtb-36", "dtb-36", "general distillation first vs the task stages alone (derive 3,6 of the adapted encoder)"),
    ("gtb-36@s14", "dtb-36@s14", "the same, seed 14"),
    ("gtb-36@s15", "dtb-36@s15", "the same, seed 15"),
    ("gtb-36", "dapt-teacher", "the general-distilled 2-layer student vs its adapted teacher"),
    ("dtb-36", "tb-36", "derive 3,6: from the adapted encoder and teacher vs from the plain ones (TinyBERT stages)"),
    ("gtb-tiny", "dtb-tiny", "general distillation first vs the task stages alone (scratch 4 x 312)"),
    ("gtb-tiny@s14", "dtb-tiny@s14", "the same, seed 14"),
    ("gtb-tiny@s15", "dtb-tiny@s15", "the same, seed 15"),
    ("ho-gtb-36", "ho-dtb-36", "held-out sources: general distillation first vs the task stages alone (derive 3,6)"),
    ("ho-gtb-36@s14", "ho-dtb-36@s14", "the same, seed 14"),
    ("ho-gtb-36@s15", "ho-dtb-36@s15", "the same, seed 15"),
    ("ho-alone-36", "ho-teacher", "held-out sources: a 2-layer student alone vs the teacher"),
    ("ho-tb-36", "ho-alone-36", "held-out sources: TinyBERT two stages vs labels alone (derive 3,6)"),
    ("ho-tb-36@s14", "ho-alone-36@s14", "the same, seed 14"),
    ("ho-tb-36@s15", "ho-alone-36@s15", "the same, seed 15"),
    ("dapt-teacher", "teacher", "the teacher adapted on the corpus vs the plain teacher"),
    ("w-dapt-teacher", "w-teacher", "all windows: the adapted teacher vs the plain teacher"),
    ("w-dapt-teacher", "dapt-teacher", "the adapted teacher: all windows vs the first 128 tokens"),
    ("w-dapt-teacher@s14", "w-teacher", "the same as the first, seed 14 (against `w-teacher`'s seed 13)"),
    ("w-dapt-teacher@s15", "w-teacher", "the same as the first, seed 15 (against `w-teacher`'s seed 13)"),
    ("w-dapt-teacher@s14", "w-teacher@s14", "the same as the first, seed 14 against seed 14"),
    ("dapt-teacher@s14", "teacher@s14", "the same, seed 14"),
    ("dapt-teacher@s15", "teacher@s15", "the same, seed 15"),
    ("ho-dapt-teacher", "ho-teacher", "held-out sources: the adapted teacher vs the plain teacher"),
    ("ho-dapt-teacher@s14", "ho-teacher@s14", "the same, seed 14"),
    ("ho-dapt-teacher@s15", "ho-teacher@s15", "the same, seed 15"),
    ("alone-246", "teacher", "a 3-layer student alone vs the teacher"),
    ("kd-246", "alone-246", "response KD vs labels alone (derive 2,4,6)"),
    ("tb-246", "alone-246", "TinyBERT two stages vs labels alone (derive 2,4,6)"),
    ("alone-246p", "alone-246", "the pooler kept vs dropped (labels alone)"),
    ("alone-246p@s14", "alone-246@s14", "the same, seed 14"),
    ("alone-246p@s15", "alone-246@s15", "the same, seed 15"),
    ("alone-36", "alone-246", "2 layers vs 3 layers (labels alone)"),
    ("kd-36", "alone-36", "response KD vs labels alone (derive 3,6)"),
    ("kd-36@s14", "alone-36@s14", "the same, seed 14"),
    ("kd-36@s15", "alone-36@s15", "the same, seed 15"),
    ("tb-36", "kd-36", "TinyBERT two stages vs response KD (derive 3,6)"),
    ("tb-36@s14", "kd-36@s14", "the same, seed 14"),
    ("tb-36@s15", "kd-36@s15", "the same, seed 15"),
    ("moe-up-36", "alone-36", "4 upcycled experts vs the dense FFN (derive 3,6, labels alone)"),
    ("moe-up-36@s14", "alone-36@s14", "the same, seed 14"),
    ("moe-up-36@s15", "alone-36@s15", "the same, seed 15"),
    ("moe-split-36", "alone-36", "4 split experts vs the dense FFN (derive 3,6, labels alone)"),
    ("moe-split-36@s14", "alone-36@s14", "the same, seed 14"),
    ("moe-split-36@s15", "alone-36@s15", "the same, seed 15"),
    ("bn-132", "teacher", "bottleneck 132 on all 6 layers vs the teacher (labels alone)"),
    ("bn-132-tb", "bn-132", "TinyBERT two stages vs labels alone (bottleneck, 6 layers)"),
    ("bn-132-pg", "bn-132", "progressive vs labels alone (bottleneck, 6 layers)"),
    ("bn-132-pg", "bn-132-tb", "progressive vs TinyBERT two stages (bottleneck, 6 layers)"),
    ("bn-132-pg", "teacher", "bottleneck 132, progressive, vs the teacher"),
    ("bn3-132", "alone-246", "bottleneck 132 vs the dense layers (derive 2,4,6, labels alone)"),
    ("bn3-132@s14", "alone-246@s14", "the same, seed 14"),
    ("bn3-132@s15", "alone-246@s15", "the same, seed 15"),
    ("bn3-132-tb", "bn3-132", "TinyBERT two stages vs labels alone (bottleneck, 3 layers)"),
    ("bn3-132-pg", "bn3-132", "progressive vs labels alone (bottleneck, 3 layers)"),
    ("bn3-132-pg", "bn3-132-tb", "progressive vs TinyBERT two stages (bottleneck, 3 layers)"),
    ("moe-up-36-tb", "tb-36", "4 upcycled experts vs the dense FFN (derive 3,6, TinyBERT stages)"),
    ("moe-split-36-tb", "tb-36", "4 split experts vs the dense FFN (derive 3,6, TinyBERT stages)"),
    ("tb-36", "alone-36", "TinyBERT two stages vs labels alone (derive 3,6)"),
    ("tb-36@s14", "alone-36@s14", "the same, seed 14"),
    ("tb-36@s15", "alone-36@s15", "the same, seed 15"),
    ("tb-36-pv", "tb-36", "vocabulary pruned vs full (derive 3,6, TinyBERT stages)"),
    ("tb-36-e128", "tb-36", "pruned + E = 128 vs full embeddings (derive 3,6, TinyBERT stages)"),
    ("tb-36-e64", "tb-36", "pruned + E = 64 vs full embeddings (derive 3,6, TinyBERT stages)"),
    ("tb-36-e64@s14", "tb-36@s14", "the same, seed 14"),
    ("tb-36-e64@s15", "tb-36@s15", "the same, seed 15"),
    ("tb-6-pv", "tb-36-pv", "1 layer vs 2 (pruned, TinyBERT stages)"),
    ("tb-6-e128", "tb-6-pv", "E = 128 vs full width (1 layer, pruned, TinyBERT stages)"),
    ("q-tb-36-e128", "tb-36-e128", "int8 vs f32 (tb-36-e128)"),
    ("q-tb-6-e128", "tb-6-e128", "int8 vs f32 (tb-6-e128)"),
    ("tb-n192-pv", "tb-36-pv", "scratch 2 × 192 vs derive 3,6 (pruned, TinyBERT stages)"),
    ("q-teacher", "teacher", "int8 vs f32 (teacher)"),
    ("q-tb-36", "tb-36", "int8 vs f32 (tb-36)"),
    ("q-tb-36-pv", "tb-36-pv", "int8 vs f32 (tb-36-pv)"),
    ("q-tb-36-e64", "tb-36-e64", "int8 vs f32 (tb-36-e64)"),
    ("q-tb-6-pv", "tb-6-pv", "int8 vs f32 (tb-6-pv)"),
    ("kd-246p", "alone-246p", "response KD vs labels alone (derive 2,4,6 + pooler)"),
    ("tb-246p", "alone-246p", "TinyBERT two stages vs labels alone (derive 2,4,6 + pooler)"),
    ("kd-tiny", "alone-tiny", "response KD vs labels alone (tinybert-4l-312d)"),
    ("kd-tiny@s14", "alone-tiny@s14", "the same, seed 14"),
    ("kd-tiny@s15", "alone-tiny@s15", "the same, seed 15"),
    ("tb-tiny", "alone-tiny", "TinyBERT two stages vs labels alone (tinybert-4l-312d)"),
    ("w-teacher", "teacher", "all windows vs the first 128 tokens (teacher)"),
    ("w-kd-246", "kd-246", "all windows vs the first 128 tokens (student, response KD)"),
    ("teacher-long", "teacher", "6 epochs at lr 1e-4 vs 3 at 5e-5 (teacher, head-128)"),
    ("w-teacher-mean", "w-teacher", "mean vs max of the windows' logits (all-window teacher)"),
]


def macro_f1(pairs):
    """Binary macro-F1 of (predicted, true) pairs."""
    f1s = []
    for c in (0, 1):
        tp = sum(1 for p, t in pairs if p == c and t == c)
        fp = sum(1 for p, t in pairs if p == c and t != c)
        fn = sum(1 for p, t in pairs if p != c and t == c)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / 2


def predictions_file(name):
    """A row's test predictions; `bow:VIEW` is the bag-of-WordPieces reference's."""
    if name.startswith("bow:"):
        return STUDY / "bow" / name[4:] / "predictions.json"
    if name.startswith("bowho:"):
        return STUDY / "bow-holdout" / name[6:] / "predictions.json"
    return STUDY / "runs" / name / "predictions.json"


def paired_difference(a, b, rounds=2000):
    """Test macro-F1 of row a minus row b, with a 95 % paired bootstrap interval: both rows are
    scored on the same resampled contracts, so the interval is about the models, not about
    which contracts happened to land in test."""
    pa = json.loads(predictions_file(a).read_text())["test"]
    pb = json.loads(predictions_file(b).read_text())["test"]
    ids = sorted(set(pa) & set(pb))
    def difference(chosen):
        return macro_f1([(pa[i]["p"], pa[i]["t"]) for i in chosen]) - macro_f1(
            [(pb[i]["p"], pb[i]["t"]) for i in chosen]
        )

    rng = random.Random(13)
    diffs = sorted(difference([ids[rng.randrange(len(ids))] for _ in ids]) for _ in range(rounds))
    point = difference(ids)
    return point, diffs[int(0.025 * rounds)], diffs[int(0.975 * rounds) - 1]


def difference_table(done):
    names = {n for n, _, _ in done}
    rows = [(a, b, what) for a, b, what in PAIRS if a in names and b in names]
    if not rows:
        return
    print_differences((a, b, f"`{a}` − `{b}`: {what}") for a, b, what in rows)


def print_differences(comparisons):
    """One line per (row, against, label): the paired difference and whether it is real."""
    print()
    print("| comparison | test macro-F1 difference [95 % paired bootstrap] | real? |")
    print("|---|--:|---|")
    for a, b, label in comparisons:
        point, low, high = paired_difference(a, b)
        real = "yes" if low > 0 or high < 0 else "no (the interval holds 0)"
        print(f"| {label} | {point:+.3f} [{low:+.3f}, {high:+.3f}] | {real} |")


# The bag-of-WordPieces reference (study/bow_reference.py) against the model reading the same
# tokens: (reference view, row, what the row reads).
REFERENCE_PAIRS = [
    ("head-128", "dapt-teacher", "the first 128 tokens"),
    ("head-128", "dapt-teacher@s14", "the first 128 tokens"),
    ("head-128", "dapt-teacher@s15", "the first 128 tokens"),
    ("head-128", "teacher", "the first 128 tokens"),
    ("head-128", "teacher-long", "the first 128 tokens"),
    ("head-128", "alone-246", "the first 128 tokens"),
    ("windows", "w-teacher", "the all-window rows' windows"),
    ("windows", "w-teacher@s14", "the all-window rows' windows"),
    ("windows", "w-teacher-mean", "the all-window rows' windows"),
    ("windows", "w-dapt-teacher", "the all-window rows' windows"),
    ("windows", "w-dapt-teacher@s14", "the all-window rows' windows"),
    ("windows", "w-dapt-teacher@s15", "the all-window rows' windows"),
    ("whole", "w-teacher", "the whole contract vs the windows"),
]


def lexical_summaries(folder, title, views):
    """The reference's rows for the views `folder` holds; the views it holds."""
    views = [v for v in views if (STUDY / folder / v / "summary.json").exists()]
    if not views:
        return views
    print()
    print(f"| {title} | C | valid macro-F1 | test macro-F1 [95 % CI] | test accuracy | test ROC-AUC |")
    print("|---|--:|--:|--:|--:|--:|")
    for v in views:
        s = json.loads((STUDY / folder / v / "summary.json").read_text())
        t = s["test"]
        print(
            f"| {v} | {s['C']:g} | {s['valid_macro_f1']:.3f} | {interval(t)} | {t['accuracy']:.3f} "
            f"| {t['roc_auc']:.3f} |"
        )
    return views


def reference_table(done):
    """Logistic regression on TF-IDF of WordPiece uni- and bigrams, in the three views
    bow_reference.py writes, and how the models compare with it on the same test contracts."""
    title = "reference: TF-IDF + logistic regression, reads"
    views = lexical_summaries("bow", title, ("head-128", "windows", "whole"))
    names = {n for n, _, _ in done}
    pairs = [(v, r, what) for v, r, what in REFERENCE_PAIRS if v in views and r in names]
    if pairs:
        print_differences((r, f"bow:{v}", f"`{r}` − reference ({v}): {what}") for v, r, what in pairs)


HOLDOUT_PAIRS = [
    ("ho-teacher", "the plain teacher"),
    ("ho-dapt-teacher", "the adapted teacher"),
    ("ho-dapt-teacher@s14", "the adapted teacher, seed 14"),
    ("ho-dapt-teacher@s15", "the adapted teacher, seed 15"),
    ("ho-tb-36", "TinyBERT two stages, derive 3,6"),
]


def holdout_reference_table(done):
    """The lexical reference on the held-out-source split (bow_reference.py on
    `data split --hold-out`'s file) and the models against it on the same test contracts."""
    title = "held-out sources: TF-IDF + logistic regression, reads"
    views = lexical_summaries("bow-holdout", title, ("head-128", "whole"))
    names = {n for n, _, _ in done}
    pairs = [(r, what) for r, what in HOLDOUT_PAIRS if r in names]
    if "head-128" in views and pairs:
        print_differences((r, "bowho:head-128", f"`{r}` − reference (head-128): {what}") for r, what in pairs)


def sweep_table():
    """The alpha × temperature grid: each finished cell's validation macro-F1 (the sweep's
    objective), `·` for cells not run; the best cell's test score below."""
    folder = STUDY / "sweep"
    if not (folder / "sweep.toml").exists():
        return
    grid = tomllib.loads((folder / "sweep.toml").read_text())["sweep"]["grid"]
    alphas, temps = grid["distill.alpha"], grid["distill.temperature"]
    cells = {}
    for line in (folder / "cells.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["state"] == "finished":
            cells[event["cell"]] = event["objective"]
    best = max(cells, key=cells.get)
    print()
    print("| alpha \\ T | " + " | ".join(f"{t:g}" for t in temps) + " |")
    print("|---|" + "--:|" * len(temps))
    for r, alpha in enumerate(alphas):
        row = []
        for c in range(len(temps)):
            i = r * len(temps) + c
            mark = "·" if i not in cells else f"{cells[i]:.3f}" + (" **best**" if i == best else "")
            row.append(mark)
        print(f"| {alpha:g} | " + " | ".join(row) + " |")
    scored = folder / "best_cell_test.json"
    if scored.exists():
        test = json.loads(scored.read_text())["overall"]
        print()
        print(
            f"Best cell {best} (alpha {alphas[best // len(temps)]:g}, T {temps[best % len(temps)]:g}): "
            f"test macro-F1 {interval(test)}, accuracy {test['accuracy']:.3f}, ROC-AUC {f3(test.get('roc_auc'))}."
        )


def main():
    done = [r for r in rows() if (STUDY / "runs" / r[0] / "summary.json").exists()]
    if not done:
        sys.exit("study/rows.tsv names no finished row yet")
    main_table(done)
    seed_table(done)
    small_table(done)
    difference_table(done)
    origin_table(done)
    sweep_table()
    reference_table(done)
    holdout_reference_table(done)


if __name__ == "__main__":
    main()
