#!/usr/bin/env bash
# Fill fuzz/corpus/<target>/ with seed inputs (generated, not committed). Run from anywhere:
#   fuzz/seed.sh            # then: cd fuzz && cargo +nightly fuzz run spec -- -max_total_time=900
# Needs the release binary (built with `cargo build --release` if missing) for plans and a real checkpoint.
set -euo pipefail

FUZZ="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$FUZZ/.." && pwd)"
BIN="$ROOT/target/release/thinktok"
CORPUS="$FUZZ/corpus"

if [[ ! -x "$BIN" ]]; then
    (cd "$ROOT" && cargo build --release)
fi
mkdir -p "$CORPUS"/{spec,plan_file,data,checkpoint}

# spec: every spec, valid and invalid.
for f in "$ROOT"/specs/*.think "$ROOT"/specs/invalid/*; do
    cp "$f" "$CORPUS/spec/$(basename "$f")"
done

# plan_file: every valid spec's plan as RON and JSON (specs that fail to compile are skipped).
for f in "$ROOT"/specs/*.think; do
    name="$(basename "$f" .think)"
    "$BIN" plan "$f" --format ron >"$CORPUS/plan_file/$name.ron" 2>/dev/null || rm -f "$CORPUS/plan_file/$name.ron"
    "$BIN" plan "$f" --format json >"$CORPUS/plan_file/$name.json" 2>/dev/null || rm -f "$CORPUS/plan_file/$name.json"
done

# data: the JSONL shapes src/engine/data/jsonl.rs accepts (and some it refuses), and plain text.
D="$CORPUS/data"
printf '%s\n' '{"prompt": "12+3=", "answer": "15"}' '{"prompt": "7+8=", "answer": "15"}' >"$D/answers.jsonl"
printf '%s\n' '{"text": "the quick brown fox jumps over the lazy dog"}' '{"text": "a"}' >"$D/text.jsonl"
printf '%s\n' '{"prompt": "1,2,3:", "answer": "6", "group": "easy"}' '{"prompt": "9,9,9:", "answer": "7", "group": 2}' \
    '{"text": "grouped text", "group": null}' >"$D/groups.jsonl"
printf '%s\n' '{"prompt": "x", "answer": "y", "text": "both"}' '' '   ' '{"prompt": "only"}' '[1, 2]' '{"text": 5}' \
    '{"text": "\u00e9\u4e2d\ud83d\ude00 unicode"}' '{"answer": "z", "group": [1]}' >"$D/mixed.jsonl"
printf '{"text": "%s"}\n' "$(head -c 200 /dev/zero | tr '\0' 'x')" >"$D/long.jsonl"
printf 'Plain text for the text loader.\nIt is packed into sequences of 64 tokens, with a held-out split.\n' >"$D/plain.txt"
head -c 3000 "$ROOT/README.md" >"$D/readme.txt"
printf 'ab' >"$D/two.txt"
printf 'caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n' >"$D/utf8.txt"

# checkpoint: real checkpoints of tiny runs (no thoughts; continuous thoughts, replaced and gated), packed as
# [u32 LE length of meta.json][meta.json][model.safetensors].
pack() { # pack META MODEL OUT
    python3 - "$1" "$2" "$3" <<'PY'
import struct, sys
meta = open(sys.argv[1], "rb").read()
model = open(sys.argv[2], "rb").read()
open(sys.argv[3], "wb").write(struct.pack("<I", len(meta)) + meta + model)
PY
}
retype() { # retype IN.safetensors DTYPE OUT.safetensors: every F32 tensor as F64, F16 or BF16
    python3 - "$1" "$2" "$3" <<'PY'
import json, struct, sys
src, dtype, dst = sys.argv[1:]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
def convert(b):
    xs = struct.unpack("<%df" % (len(b) // 4), b)
    if dtype == "F64":
        return struct.pack("<%dd" % len(xs), *xs)
    if dtype == "F16":
        return struct.pack("<%de" % len(xs), *xs)
    return b"".join(struct.pack("<f", x)[2:] for x in xs)  # BF16: the upper half of each f32
out, offset = bytearray(), 0
for name in sorted(k for k in header if k != "__metadata__"):
    t = header[name]
    a, b = t["data_offsets"]
    chunk = convert(data[a:b]) if t["dtype"] == "F32" else data[a:b]
    t["dtype"] = dtype if t["dtype"] == "F32" else t["dtype"]
    t["data_offsets"] = [offset, offset + len(chunk)]
    out += chunk
    offset += len(chunk)
head = json.dumps(header, separators=(",", ":")).encode()
head += b" " * (-len(head) % 8)
open(dst, "wb").write(struct.pack("<Q", len(head)) + head + bytes(out))
PY
}
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cat >"$TMP/tiny.think" <<SPEC
import "$ROOT/specs/default.think"

experiment "fuzz-tiny" {
  model.width = 16
  model.heads = 2
  model.layers = 1
  model.context = 32
  data.train = task.sum3(digits = 6, count = 50)
  data.test = task.sum3(digits = 6, count = 20, seed = 1)
  learn.steps = 2
  learn.batch = 4
  eval.every = 2
}
SPEC
cat >"$TMP/tiny-continuous.think" <<SPEC
import "$TMP/tiny.think"

experiment "fuzz-tiny-continuous" {
  episode.insertion = fast_forward()
  episode.thoughts = continuous
}
SPEC
cat >"$TMP/tiny-gated.think" <<SPEC
import "$TMP/tiny-continuous.think"

experiment "fuzz-tiny-gated" {
  episode.thoughts = continuous(mix = gated)
}
SPEC
for spec in tiny tiny-continuous tiny-gated; do
    if nice -n 10 "$BIN" run "$TMP/$spec.think" --out "$TMP/runs-$spec" --quiet >"$TMP/$spec.log" 2>&1; then
        final="$(find "$TMP/runs-$spec" -type d -name final | head -n 1)"
        pack "$final/meta.json" "$final/model.safetensors" "$CORPUS/checkpoint/$spec.bin"
        # The same checkpoint with its safetensors truncated, and with no weights at all.
        head -c 1000 "$final/model.safetensors" >"$TMP/truncated.safetensors"
        pack "$final/meta.json" "$TMP/truncated.safetensors" "$CORPUS/checkpoint/$spec-truncated.bin"
        pack "$final/meta.json" /dev/null "$CORPUS/checkpoint/$spec-noweights.bin"
        # The same weights in other dtypes (candle converts them on load).
        for dtype in F64 F16 BF16; do
            retype "$final/model.safetensors" "$dtype" "$TMP/retyped.safetensors"
            pack "$final/meta.json" "$TMP/retyped.safetensors" "$CORPUS/checkpoint/$spec-$dtype.bin"
        done
    else
        echo "seed.sh: the tiny run \`$spec\` failed (see below); no checkpoint seed from it" >&2
        cat "$TMP/$spec.log" >&2
    fi
done

for t in spec plan_file data checkpoint; do
    echo "corpus/$t: $(find "$CORPUS/$t" -type f | wc -l) files"
done
