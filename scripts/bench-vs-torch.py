#!/usr/bin/env python3
"""Alambic against PyTorch + transformers on the same shapes, alternating, on this machine.

    scripts/bench-vs-torch.py [--rounds 3] [--seq 128,256] [--models minilm,tinybert]
                              [--phases train,infer] [--steps 6] [--warmup 2] [--threads 2]

Each round runs, for every case, the peer (../shared/bench/torch_baseline.py) then
`alambic bench` on the same model, batch and sequence length; absolute speeds drift on shared
machines, so the ratio of each round is taken within the round and the table reports the
median over rounds. The torch interpreter is $TORCH_PYTHON (default ~/torch-venv/bin/python,
see ../shared/bench/README.md). Writes the table to stdout and every figure as JSON to
target/bench/vs-torch-<time>.json.
"""
import argparse, datetime, json, os, pathlib, re, statistics, subprocess, sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PEER = ROOT.parent / "shared" / "bench" / "torch_baseline.py"
ALAMBIC = ROOT / "target" / "release" / "alambic"


def minilm_folder():
    folder = ROOT / "target" / "models" / "all-minilm-l6-v2"
    if not (folder / "model.safetensors").is_file():
        # `alambic bench` fetches it on first use; run a tiny case to get it.
        subprocess.run([str(ALAMBIC), "bench", "--model", "minilm", "--seq", "8", "--phase",
                        "infer", "--steps", "1", "--warmup", "0"], check=True,
                       stdout=subprocess.DEVNULL)
    return folder


def sources(name):
    """(peer's MODEL argument, Alambic's model source) of one benchmark model."""
    if name == "minilm":
        f = str(minilm_folder())
        return f, f
    if name == "tinybert":
        # Both: BERT 4 × 312, 12 heads, 1200 intermediate, vocabulary 30522, random weights.
        return "tinybert", f"scratch:tinybert-4l-312d?tokenizer={minilm_folder()}"
    sys.exit(f"unknown model {name}: minilm or tinybert")


def torch_rate(py, model, seq, phase, a):
    out = subprocess.run([py, str(PEER), model, str(seq), phase, "--batch", str(a.batch),
                          "--steps", str(a.steps), "--warmup", str(a.warmup),
                          "--threads", str(a.threads)], capture_output=True, text=True)
    m = re.search(r"samples_per_s=([0-9.]+)", out.stdout)
    if not m:
        sys.exit(f"torch baseline failed:\n{out.stderr[-2000:]}")
    return float(m.group(1))


def alambic_rate(source, seq, phase, a):
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    out = subprocess.run([str(ALAMBIC), "bench", "--model", source, "--seq", str(seq),
                          "--phase", phase, "--batch", str(a.batch), "--steps", str(a.steps),
                          "--warmup", str(a.warmup)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"alambic bench failed:\n{out.stderr[-2000:]}")
    doc = json.loads(out.stdout)
    return doc["models"][0], doc["machine"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seq", default="128,256")
    p.add_argument("--models", default="minilm,tinybert")
    p.add_argument("--phases", default="train,infer")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    py = os.environ.get("TORCH_PYTHON", os.path.expanduser("~/torch-venv/bin/python"))
    if not ALAMBIC.is_file():
        sys.exit("build first: cargo build --release")
    cases = [(m, int(s), ph) for m in a.models.split(",") for s in a.seq.split(",")
             for ph in a.phases.split(",")]
    results = {c: {"torch": [], "alambic": [], "ratio": [], "peak_rss_mb": [], "gflops": []}
               for c in cases}
    machine = None
    for r in range(a.rounds):
        for (m, seq, ph) in cases:
            peer_model, ours_model = sources(m)
            t = torch_rate(py, peer_model, seq, ph, a)
            ours, machine = alambic_rate(ours_model, seq, ph, a)
            res = results[(m, seq, ph)]
            res["torch"].append(t)
            res["alambic"].append(ours["samples_per_s"])
            res["ratio"].append(ours["samples_per_s"] / t)
            res["peak_rss_mb"].append(ours["peak_rss_mb"])
            res["gflops"].append(ours["gflops"])
            print(f"round {r + 1}: {m} seq {seq} {ph}: torch {t:.2f}, alambic "
                  f"{ours['samples_per_s']:.2f} samples/s ({ours['samples_per_s'] / t:.2f}x)",
                  file=sys.stderr)
    print(f"machine: {machine['cpu']}, {machine['cpus']} CPUs, {a.threads} threads; "
          f"batch {a.batch}; median of {a.rounds} alternating rounds")
    print("| model | seq | phase | PyTorch samples/s | Alambic samples/s | ratio (min–max) | "
          "Alambic GFLOP/s | Alambic peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for (m, seq, ph), res in results.items():
        med = statistics.median
        print(f"| {m} | {seq} | {ph} | {med(res['torch']):.2f} | {med(res['alambic']):.2f} | "
              f"**{med(res['ratio']):.2f}×** ({min(res['ratio']):.2f}–{max(res['ratio']):.2f}) | "
              f"{med(res['gflops']):.0f} | {med(res['peak_rss_mb']):.0f} |")
    out = ROOT / "target" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out / f"vs-torch-{stamp}.json"
    path.write_text(json.dumps({"machine": machine, "args": vars(a), "cases": [
        {"model": m, "seq": s, "phase": ph, **res} for (m, s, ph), res in results.items()]},
        indent=2))
    print(f"figures: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
