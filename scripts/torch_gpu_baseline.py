"""PyTorch + transformers peer for Alambic's GPU benchmark (scripts/device-check.sh): a copy of
../shared/bench/torch_baseline.py extended with the CodeBERT shape (random init, 12 x 768,
vocabulary 50,265, RoBERTa) and bf16 autocast.

    python torch_gpu_baseline.py MODEL SEQ MODE [--batch 32] [--steps 10] [--warmup 3]
                                 [--device cuda] [--dtype f32|bf16]
MODEL: a Hugging Face folder (all-MiniLM-L6-v2), `codebert` or `tinybert` (random init).
MODE: train (forward + backward + AdamW step, dropout on) or infer (no_grad, eval mode).
Random token ids, full attention mask, 2 labels. Prints one RESULT line with the median step.
"""
import argparse
import statistics
import time

import torch
import transformers
from transformers import (AutoModelForSequenceClassification, BertConfig,
                          BertForSequenceClassification, RobertaConfig,
                          RobertaForSequenceClassification)

p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("seq", type=int)
p.add_argument("mode", choices=["train", "infer"])
p.add_argument("--batch", type=int, default=32)
p.add_argument("--steps", type=int, default=10)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--device", default="cuda")
p.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
p.add_argument("--attn", default="sdpa")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
dev = torch.device(a.device)
if a.model == "tinybert":
    cfg = BertConfig(vocab_size=30522, hidden_size=312, num_hidden_layers=4, num_attention_heads=12,
                     intermediate_size=1200, num_labels=2, attn_implementation=a.attn)
    m = BertForSequenceClassification(cfg)
elif a.model == "codebert":
    cfg = RobertaConfig(vocab_size=50265, hidden_size=768, num_hidden_layers=12,
                        num_attention_heads=12, intermediate_size=3072, max_position_embeddings=514,
                        type_vocab_size=1, pad_token_id=1, num_labels=2, attn_implementation=a.attn)
    m = RobertaForSequenceClassification(cfg)
else:
    m = AutoModelForSequenceClassification.from_pretrained(a.model, num_labels=2,
                                                           attn_implementation=a.attn)
m = m.to(dev)
c = m.config
params = sum(p.numel() for p in m.parameters())
emb = sum(p.numel() for n, p in m.named_parameters() if "embeddings" in n)
ids = torch.randint(3, c.vocab_size, (a.batch, a.seq), device=dev)
mask = torch.ones_like(ids)
labels = torch.randint(0, 2, (a.batch,), device=dev)
sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
# bf16 activations and matmuls, f32 master weights and AdamW (as Alambic's train.precision).
cast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.dtype == "bf16")
times = []
if a.mode == "train":
    m.train()
    opt = torch.optim.AdamW(m.parameters(), lr=2e-5, weight_decay=0.01)
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        with cast:
            out = m(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        out.loss.item()
        sync()
        if i >= a.warmup:
            times.append(time.perf_counter() - t)
else:
    m.eval()
    with torch.no_grad(), cast:
        for i in range(a.warmup + a.steps):
            t = time.perf_counter()
            m(input_ids=ids, attention_mask=mask).logits.float().sum().item()
            sync()
            if i >= a.warmup:
                times.append(time.perf_counter() - t)
med = statistics.median(times)
mult = 6 if a.mode == "train" else 2  # FLOPs per parameter per token (forward 2, backward 4)
flops = (mult * (params - emb) * a.batch * a.seq
         + 2 * mult * c.num_hidden_layers * a.seq * a.seq * c.hidden_size * a.batch)
peak = torch.cuda.max_memory_allocated() if dev.type == "cuda" else 0
print(f"RESULT framework=torch model={a.model} seq={a.seq} batch={a.batch} mode={a.mode} "
      f"device={a.device} dtype={a.dtype} median_s={med:.4f} samples_per_s={a.batch / med:.2f} "
      f"gflops={flops / med / 1e9:.1f} peak_mb={peak / 1e6:.0f} params={params} "
      f"torch={torch.__version__} transformers={transformers.__version__}")
