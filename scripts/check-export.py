#!/usr/bin/env python3
"""Loads `alambic model export` folders in transformers and compares their logits with
`alambic predict` on the same contract.

    scripts/check-export.py RUN_DIR [RUN_DIR ...] [--alambic target/release/alambic]

For each run folder: exports it, loads the export the way a user would (AutoTokenizer, and
AutoModelForSequenceClassification, or AutoModel plus `classifier.safetensors` for a head
transformers has no class for), scores a short contract that fits in one window, and compares
the class probabilities with `alambic predict --json` on the same file. Exit status 1 if any
run differs by more than 1e-4 or fails to load. Needs python3 with torch and transformers
(BENCHMARKS.md's venv).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

# Already clean: no comments, single spaces, one statement a line (cleaning changes nothing).
CONTRACT = """pragma solidity ^0.4.24;

contract Vault {
    mapping(address => uint256) public balances;

    function withdraw(uint256 amount) public {
        require(balances[msg.sender] >= amount);
        msg.sender.call.value(amount)();
        balances[msg.sender] -= amount;
    }
}
"""


def transformers_probs(export: Path, text: str) -> list:
    config = json.loads((export / "config.json").read_text())
    tok = AutoTokenizer.from_pretrained(export)
    batch = tok([text], return_tensors="pt")
    arch = config["architectures"][0]
    with torch.no_grad():
        if arch.endswith("ForSequenceClassification"):
            model = AutoModelForSequenceClassification.from_pretrained(export).eval()
            logits = model(**batch).logits[0]
        else:
            model = AutoModel.from_pretrained(export, add_pooling_layer=False).eval()
            head = load_file(export / "classifier.safetensors")
            hidden = model(**batch).last_hidden_state
            readme = (export / "README.md").read_text()
            if "max pooling" in readme:
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden + (mask - 1) * 1e4).amax(1)
            elif "mean pooling" in readme:
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1)
            else:
                pooled = hidden[:, 0]
            logits = (pooled @ head["classifier.weight"].T + head["classifier.bias"])[0]
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    return labels, torch.softmax(logits, -1).tolist(), arch


def check(alambic: str, run: Path, work: Path) -> bool:
    export = work / f"{run.name}-export"
    subprocess.run([alambic, "model", "export", str(run), str(export)], check=True,
                   stdout=subprocess.DEVNULL)
    sol = work / "contract.sol"
    sol.write_text(CONTRACT)
    out = subprocess.run([alambic, "predict", "--model", str(run), str(sol), "--json"],
                         check=True, capture_output=True, text=True)
    verdict = json.loads(out.stdout)[0]
    if verdict["windows"] != 1:
        print(f"{run}: the contract takes {verdict['windows']} windows; pick a shorter one")
        return False
    labels, probs, arch = transformers_probs(export, CONTRACT)
    ours = [verdict["probabilities"][label] for label in labels]
    diff = max(abs(a - b) for a, b in zip(ours, probs))
    ok = diff <= 1e-4
    print(f"{'ok ' if ok else 'BAD'} {run.name}: {arch}, {len(labels)} classes, "
          f"max |p_alambic - p_transformers| = {diff:.2e}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--alambic", default="target/release/alambic")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [check(args.alambic, run, Path(tmp)) for run in args.runs]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
