#!/usr/bin/env python3
"""Reference figures for `thinktok eval --model`: the held-out NLL of a text file under a GGUF (or Hugging Face)
checkpoint, computed by Hugging Face transformers, chunked exactly as thinktok's `text:` data is: the file's tokens,
then the end-of-text token, cut into sequences of CONTEXT tokens (a last piece shorter than 2 is dropped); every
token after a sequence's first is a target. Prints one JSON object (nll per token, token count, token ids' FNV-1a).

Run it in a throwaway virtual environment outside the repository, e.g.
    python3 -m venv ~/.cache/thinktok/refvenv && ~/.cache/thinktok/refvenv/bin/pip install torch transformers gguf
    ~/.cache/thinktok/refvenv/bin/python scripts/reference-nll.py MODEL.gguf passage.txt --context 256
Nothing here is used by the tests.
"""
import argparse
import json
import math
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def fnv1a(ids):
    h = 0xCBF29CE484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little"):
            h ^= b
            h = (h * 0x100000001B3) % (1 << 64)
    return f"{h:016x}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("text")
    ap.add_argument("--context", type=int, default=256)
    args = ap.parse_args()
    path = Path(args.model)
    if path.suffix == ".gguf":
        kw = dict(gguf_file=path.name)
        where = str(path.parent)
    else:
        kw = {}
        where = str(path)
    tok = AutoTokenizer.from_pretrained(where, **kw)
    model = AutoModelForCausalLM.from_pretrained(where, torch_dtype=torch.float32, **kw).eval()
    text = Path(args.text).read_text()
    ids = tok(text, add_special_tokens=False)["input_ids"]
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    stream = ids + [eot]
    chunks = [stream[i : i + args.context] for i in range(0, len(stream), args.context)]
    chunks = [c for c in chunks if len(c) >= 2]
    total, n = 0.0, 0
    with torch.no_grad():
        for c in chunks:
            x = torch.tensor([c])
            logp = torch.log_softmax(model(x).logits.float(), dim=-1)[0]
            nll = -logp[:-1].gather(1, x[0, 1:, None]).squeeze(1)
            total += nll.sum().item()
            n += len(c) - 1
    print(json.dumps({"nll": total / n, "tokens": n, "ids": len(ids), "ids_fnv1a": fnv1a(ids), "sequences": len(chunks)}))


if __name__ == "__main__":
    main()
