#!/usr/bin/env python3
"""Teacher-student attribution agreement on cgt_dasp (issue 23), from the kept evidence
(study/runs/<row>/evidence.json, written by `alambic report --evidence ig`, for seed 13 and,
where kept, seeds 14 and 15 of each student, all of the seed-13 teacher): per student the
mean top-5 overlap and Spearman correlation of line scores with the teacher's, and paired
bootstrap intervals (over contracts, 2,000 resamples) of tb-36 minus the others and of
kd-36 minus alone-36, per seed; and each shape's mean over seeds. An
independent re-implementation of the report's numbers, which it must reproduce."""
import json
import os
import random
from statistics import mean, stdev


def load(row):
    with open(f"study/runs/{row}/evidence.json") as f:
        return {c["id"]: c for c in json.load(f)["contracts"]}


def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i])
    out, i = [0.0] * len(v), 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in order[i : j + 1]:
            out[k] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a, b):
    if len(a) < 2:
        return 0.0
    ra, rb = ranks(a), ranks(b)
    ma, mb = mean(ra), mean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va, vb = sum((x - ma) ** 2 for x in ra), sum((y - mb) ** 2 for y in rb)
    return 0.0 if va == 0 or vb == 0 else cov / (va * vb) ** 0.5


def agreement(teacher, student):
    out = {}
    for cid, s in student.items():
        t = teacher[cid]
        tt, st = [l["line"] for l in t["top"]], [l["line"] for l in s["top"]]
        overlap = len([l for l in tt if l in st]) / max(len(tt), len(st), 1)
        both = [
            (a, b)
            for a, b, na, nb in zip(t["scores"], s["scores"], t["tokens"], s["tokens"])
            if na > 0 and nb > 0
        ]
        rho = spearman([p[0] for p in both], [p[1] for p in both])
        out[cid] = (overlap, rho, t["verdict"] == s["verdict"])
    return out


teacher = load("teacher")
# Seed 13 (the plain row names) and the seeds 14 and 15 where their evidence is kept; the
# students of every seed learned from the same teacher row.
SEEDS = ["", "@s14", "@s15"]
ROWS = ["kd-36", "tb-36", "alone-36", "kd-246"]
per = {
    row + seed: agreement(teacher, load(row + seed))
    for seed in SEEDS
    for row in ROWS
    if os.path.isfile(f"study/runs/{row + seed}/evidence.json")
}
print("row            contracts  top-5 overlap  rank corr.  same verdict")
for row, a in per.items():
    v = list(a.values())
    print(
        f"{row:<14} {len(v):>9}  {mean(x[0] for x in v):>13.3f}  {mean(x[1] for x in v):>10.3f}"
        f"  {mean(x[2] for x in v):>12.3f}"
    )
for seed in SEEDS:
    pairs = [
        ("tb-36", "kd-36"),
        ("tb-36", "alone-36"),
        ("kd-36", "alone-36"),
        # Response KD with a layer more (derive 2,4,6) against TinyBERT's stages and against
        # response KD on the 2-layer shape: does the larger student look more like the teacher?
        ("tb-36", "kd-246"),
        ("kd-246", "kd-36"),
    ]
    for one, other in pairs:
        if one + seed not in per or other + seed not in per:
            continue
        ids = sorted(per[one + seed])
        for m, name in [(0, "top-5 overlap"), (1, "rank corr.")]:
            d = [per[one + seed][i][m] - per[other + seed][i][m] for i in ids]
            # One generator per comparison, seeded by its name: an interval does not move
            # when comparisons are added before it.
            rng = random.Random(f"{one}{seed}-{other}{seed}-{name}")
            boot = sorted(mean(rng.choice(d) for _ in d) for _ in range(2000))
            print(
                f"{one + seed:<10} - {other + seed:<12} {name:<13} {mean(d):+.3f}"
                f"  95% [{boot[50]:+.3f}, {boot[1949]:+.3f}]"
            )
# Each student shape over the seeds whose evidence is kept: mean ± sample standard deviation.
for row in ROWS:
    runs = [per[row + seed] for seed in SEEDS if row + seed in per]
    if len(runs) < 2:
        continue
    cells = []
    for m in range(3):
        v = [mean(x[m] for x in a.values()) for a in runs]
        cells.append(f"{mean(v):.3f} ± {stdev(v):.3f}")
    print(f"{row:<9} {len(runs)} seeds  " + "  ".join(cells))
