"""Activation dump throughput, tokens/s on one core (torch) plus lingscope's writer thread.

Full: ``lingscope.methods.activations.dump``, as the CLI runs it (model load, streaming read of
the val split, forward, Arrow conversion, zstd Parquet writing in its writer thread, publish).
Baseline, measured in the same run: forward only, i.e. the same chunks (read and encoded
beforehand) through ``lingscope.models.runs.run_network``, with no table building or writing.
Also the float16 dump, and the float32 dump with ``gates`` on (the GRU's r, z, n as three more
columns, ``activations.gates``) against the same dump with them off, as a ratio of rates in the
same process. Target: full float32 dump >= 80% of forward-only.

Models are random-init IMAGINET (kind imaginet); hidden 1024 runs on the first 5,000 val
captions by default to keep the script short (rates are per token, so comparable).

    python benchmarks/dump_throughput.py [--runs 256:25000 1024:5000] [--pathway visual] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from _common import OUT, corpus, figure, machine, table, timed, val_subset, write_results  # noqa: E402
from lingscope.core.settings import Runtime  # noqa: E402
from lingscope.methods.settings import ActivationSettings  # noqa: E402
from lingscope.encoding.csr import to_csr  # noqa: E402
from lingscope.encoding.ids import encode_forms, load_vocab_checked  # noqa: E402
from lingscope.encoding.stream import iter_sentence_chunks  # noqa: E402
from lingscope.methods.activations import dump  # noqa: E402
from lingscope.models.checkpoint import save_model
from lingscope.models.imaginet import Architecture, CaptionModel  # noqa: E402
from lingscope.models.runs import run_network  # noqa: E402


def parse_run(text: str) -> tuple[int, int]:
    h, _, n = text.partition(":")
    return int(h), int(n)


def dir_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=2000, help="train images of the corpus (shared with the other benchmarks)")
    ap.add_argument("--n-val", type=int, default=5000, help="val images (x5 captions)")
    ap.add_argument("--runs", nargs="+", type=parse_run, default=[(256, 25000), (1024, 5000)], metavar="HIDDEN:SENTENCES",
                    help="hidden size and how many val captions to dump with it (0: all)")
    ap.add_argument("--embedding-dim", type=int, default=128)
    ap.add_argument("--pathway", choices=("textual", "visual"), default="visual")
    ap.add_argument("--chunk-sentences", type=int, default=2048, help="as the CLI's default")
    ap.add_argument("--batch-rows", type=int, default=1024, help="as the CLI's default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    paths = corpus(args.n_train, args.n_val)
    vocab = load_vocab_checked(paths["vocab"])
    work = OUT / "work" / "dump_throughput"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    image_dim = 128

    results = []
    for H, n_sentences in args.runs:
        sentences = val_subset(paths, n_sentences) if n_sentences else paths["sentences"]
        torch.manual_seed(0)
        model = CaptionModel(Architecture("imaginet", len(vocab), image_dim, args.embedding_dim, H)).eval()
        model_path = work / f"imaginet-h{H}.pt"
        save_model(model_path, model, {"name": "imaginet", "vocab_size": len(vocab),
                                       "image_mean": torch.zeros(image_dim), "image_std": torch.ones(image_dim)})

        # Forward only: the same chunks, read and encoded outside the timing.
        chunks = []
        for chunk in iter_sentence_chunks(sentences, "val", chunk_sentences=args.chunk_sentences):
            tokens = chunk.column("tokens").combine_chunks()
            n_words = tokens.value_lengths().to_numpy(zero_copy_only=False).astype("int64")
            flat, offsets = to_csr(encode_forms(tokens.flatten(), vocab), n_words)
            chunks.append((torch.from_numpy(flat), offsets))
        n_tokens = sum(len(c[0]) for c in chunks)
        n_sent = sum(len(c[1]) - 1 for c in chunks)

        def forward_only():
            for ids, offsets in chunks:
                run_network(model, args.pathway, ids, offsets, args.batch_rows)

        def full(dtype: str, source=sentences, gates: bool = False):
            name = dtype + ("-gates" if gates else "")
            def go():
                dump(model_path, args.pathway, source, paths["vocab"], work / f"tokens-{name}", work / f"h_end-{name}",
                     ActivationSettings(split="val", dtype=dtype, chunk_sentences=args.chunk_sentences,
                                        batch_rows=args.batch_rows, gates=gates),
                     Runtime(device="cpu", threads=args.threads))
            return go

        # Warm-up: a small dump of each kind and one forward chunk.
        warm = val_subset(paths, 1000)
        full("float32", warm)()
        full("float16", warm)()
        full("float32", warm, gates=True)()
        run_network(model, args.pathway, *chunks[0], args.batch_rows)

        times = {"forward": [], "float32": [], "float16": [], "float32_gates": []}
        for _ in range(args.repeats):  # interleaved, so a slow spell hits all four
            times["forward"].append(timed(forward_only))
            times["float32"].append(timed(full("float32")))
            times["float16"].append(timed(full("float16")))
            times["float32_gates"].append(timed(full("float32", gates=True)))
        row = {"hidden_dim": H, "embedding_dim": args.embedding_dim, "pathway": args.pathway, "sentences": n_sent,
               "tokens": n_tokens, "seconds": times,
               "forward_tokens_per_s": n_tokens / min(times["forward"]),
               "dump_float32_tokens_per_s": n_tokens / min(times["float32"]),
               "dump_float16_tokens_per_s": n_tokens / min(times["float16"]),
               "dump_float32_gates_tokens_per_s": n_tokens / min(times["float32_gates"]),
               "output_mb_float32": dir_mb(work / "tokens-float32") + dir_mb(work / "h_end-float32"),
               "output_mb_float16": dir_mb(work / "tokens-float16") + dir_mb(work / "h_end-float16"),
               "output_mb_float32_gates": dir_mb(work / "tokens-float32-gates") + dir_mb(work / "h_end-float32-gates")}
        row["ratio_float32"] = row["dump_float32_tokens_per_s"] / row["forward_tokens_per_s"]
        row["ratio_float16"] = row["dump_float16_tokens_per_s"] / row["forward_tokens_per_s"]
        row["ratio_gates"] = row["dump_float32_gates_tokens_per_s"] / row["dump_float32_tokens_per_s"]
        results.append(row)
        print(f"[h{H}] forward {row['forward_tokens_per_s']:,.0f}, dump f32 {row['dump_float32_tokens_per_s']:,.0f}, "
              f"f16 {row['dump_float16_tokens_per_s']:,.0f}, f32 with gates {row['dump_float32_gates_tokens_per_s']:,.0f} "
              f"tokens/s", file=sys.stderr, flush=True)
    shutil.rmtree(work, ignore_errors=True)

    print(f"\nActivation dump throughput: random-init IMAGINET, {args.pathway} pathway, embedding {args.embedding_dim}, "
          f"val captions of the synthetic corpus, {args.threads} torch thread(s), best of {args.repeats}\n")
    print(table(
        ["hidden", "sentences", "tokens", "forward only (tok/s)", "dump float32 (tok/s)", "float32 / forward",
         "dump float16 (tok/s)", "float16 / forward", "output MB f32 / f16", "target f32 >= 0.80",
         "dump f32 + gates (tok/s)", "gates on / off", "output MB f32 + gates"],
        [[r["hidden_dim"], f"{r['sentences']:,}", f"{r['tokens']:,}", f"{r['forward_tokens_per_s']:,.0f}",
          f"{r['dump_float32_tokens_per_s']:,.0f}", f"{r['ratio_float32']:.2f}", f"{r['dump_float16_tokens_per_s']:,.0f}",
          f"{r['ratio_float16']:.2f}", f"{r['output_mb_float32']:.0f} / {r['output_mb_float16']:.0f}",
          "met" if r["ratio_float32"] >= 0.8 else "NOT MET", f"{r['dump_float32_gates_tokens_per_s']:,.0f}",
          f"{r['ratio_gates']:.2f}", f"{r['output_mb_float32_gates']:.0f}"] for r in results]))
    summary = []
    for r in results:
        h = f"hidden {r['hidden_dim']}"
        summary += [figure(f"dump float32 / forward only, tokens per second, {h}", round(r["ratio_float32"], 3), ">= 0.8"),
                    figure(f"dump float16 / forward only, {h}", round(r["ratio_float16"], 3)),
                    figure(f"dump with gates / without, {h}", round(r["ratio_gates"], 3)),
                    figure(f"dump float32 tokens per second, {h}", round(r["dump_float32_tokens_per_s"]))]
    path = write_results("dump_throughput", {"machine": machine(), "repeats": args.repeats, "results": results},
                         args.out, title="Activation dump throughput against the forward pass alone", summary=summary)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
