#!/usr/bin/env python3
"""Loads a pretraining run's `alambic model export` in transformers (AutoModelForMaskedLM) and
scores it on the run's own held-out masked windows (`valid_masks.json`): its masked-token loss and
accuracy must equal `pretrain.json`'s best scores (computed by Alambic on the same checkpoint).

    scripts/check-mlm-export.py RUN_DIR [--alambic target/release/alambic]

Exit status 1 if transformers reports missing or unexpected keys, or the loss differs by more than
1e-4 (relative). Needs python3 with torch and transformers (BENCHMARKS.md's venv).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForMaskedLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--alambic", default="target/release/alambic")
    args = ap.parse_args()
    summary = json.loads((args.run / "pretrain.json").read_text())
    windows = json.loads((args.run / "valid_masks.json").read_text())
    with tempfile.TemporaryDirectory() as work:
        export = Path(work) / "export"
        subprocess.run([args.alambic, "model", "export", str(args.run), str(export)], check=True)
        model, info = AutoModelForMaskedLM.from_pretrained(export, output_loading_info=True)
        model.eval()
        bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys")}
        loss_sum, correct, count = 0.0, 0, 0
        with torch.no_grad():
            for w in windows:
                if not w["targets"]:
                    continue
                ids = torch.tensor([w["input"]])
                logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0]
                pos = torch.tensor([p for p, _ in w["targets"]])
                tgt = torch.tensor([t for _, t in w["targets"]])
                rows = logits[pos]
                loss_sum += torch.nn.functional.cross_entropy(rows, tgt, reduction="sum").item()
                correct += (rows.argmax(-1) == tgt).sum().item()
                count += len(tgt)
    loss, ours = loss_sum / count, summary["best"]["loss"]
    acc, ours_acc = correct / count, summary["best"]["masked_accuracy"]
    print(f"{type(model).__name__}: {count} masked tokens; transformers loss {loss:.6f}, "
          f"alambic {ours:.6f}; accuracy {acc:.4f} vs {ours_acc:.4f}; loading: {bad or 'clean'}")
    ok = not bad and abs(loss - ours) <= 1e-4 * max(1.0, abs(ours)) and abs(acc - ours_acc) < 2e-3
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
