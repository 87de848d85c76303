#!/usr/bin/env python3
"""PyTorch + transformers counterpart of `thinktok bench model --model PATH --json`: no-grad forward and
training-step tokens/s (cross-entropy over every position, backward, torch.optim.AdamW at lr 3e-4, weight decay 0.1,
no clipping, every parameter trained) of the same checkpoint in f32, on random token ids, batch × seq, medians of
timed repeats after one warm-up. Run it in a throwaway venv outside the repo (see scripts/reference-nll.py), with
the same thread count as thinktok (`--threads`, and RAYON_NUM_THREADS for thinktok).
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    path = Path(args.model)
    kw = dict(gguf_file=path.name) if path.suffix == ".gguf" else {}
    where = str(path.parent) if path.suffix == ".gguf" else str(path)
    model = AutoModelForCausalLM.from_pretrained(where, torch_dtype=torch.float32, **kw)
    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, model.config.vocab_size - 8, (args.batch, args.seq + 1), generator=g)
    x, y = data[:, :-1], data[:, 1:]

    def timed(f):
        f()
        out = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            f()
            out.append(time.perf_counter() - t)
        return statistics.median(out)

    model.eval()

    def forward():
        with torch.no_grad():
            model(x).logits.sum().item()

    fwd = timed(forward)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, betas=(0.9, 0.999), eps=1e-8)

    def step():
        logits = model(x).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    train = timed(step)
    n = args.batch * args.seq
    print(json.dumps({"forward_tok_s": n / fwd, "train_tok_s": n / train, "forward_s": fwd, "train_s": train,
                      "torch": torch.__version__, "threads": args.threads, "batch": args.batch, "seq": args.seq}))


if __name__ == "__main__":
    main()
