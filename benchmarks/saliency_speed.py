"""Split saliency speed on one core: lingscope's batched pass against Captum's ``Saliency`` per sentence.

Measured in the same run, on the same models (the catalog's rnn, lstm and bilstm kinds, created
through their family at the paper's 60-d sizes, seeded) and the test split of a synthetic
treebank at the real SST's test size (2,210 sentences):

(a) ``lingscope.methods.saliency.sentence_saliency``: ``|dS_c/de|`` of every word of every
    sentence, S_c the predicted class's score, one backward pass per length-bucketed batch
    (``batch_sentences``, the config's default 256), variance salience included;
(b) Captum's ``Saliency(forward).attribute(emb, target=predicted, abs=True)``, one call per
    sentence, ``forward(emb)`` being the model's class scores of a batch of one (the way a
    Captum user computes it: the embedding vectors are the input).

The gradients must agree to 1e-6 (asserted), and the predicted classes exactly.
Target: lingscope / Captum >= 10x in words per second.

    python benchmarks/saliency_speed.py [--test 2210] [--kinds rnn lstm bilstm] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402

from _common import best_of, figure, machine, table, treebank, write_results  # noqa: E402
from lingscope.core import catalog  # noqa: E402
from lingscope.encoding.ids import load_vocab_checked  # noqa: E402
from lingscope.encoding.stream import encode_chunk  # noqa: E402
from lingscope.methods.saliency import class_readout, sentence_saliency  # noqa: E402
from lingscope.models.checkpoint import family

TOLERANCE = 1e-6
TARGET = 10.0


def captum_saliency(model, network: str, flat: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every word's ``|dS_c/de|`` through Captum's Saliency, one attribute call per sentence."""
    from captum.attr import Saliency

    readout = class_readout(model, network)

    def forward(emb: torch.Tensor) -> torch.Tensor:
        return model.readout(network, readout, model.representation(network, emb, torch.tensor([emb.shape[1]])))

    saliency = Saliency(forward)
    rows, predicted = [], []
    for s in range(len(offsets) - 1):
        ids = torch.from_numpy(flat[offsets[s]:offsets[s + 1]]).unsqueeze(0)
        emb = model.embed(ids).detach()
        with torch.no_grad():
            target = int(forward(emb).argmax(1))
        rows.append(saliency.attribute(emb, target=target, abs=True)[0].numpy())
        predicted.append(target)
    return np.concatenate(rows), np.array(predicted)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test", type=int, default=2210, help="test sentences (the real SST has 2,210)")
    ap.add_argument("--kinds", nargs="+", default=["rnn", "lstm", "bilstm"])
    ap.add_argument("--dim", type=int, default=60, help="embedding and state size (the paper: 60)")
    ap.add_argument("--batch-sentences", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each (best counts)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", module="captum")

    paths = treebank(200, 50, args.test)
    vocab = load_vocab_checked(paths["vocab"])
    chunk = pq.read_table(paths["sentences"], columns=["split", "sentence_id", "tokens"])
    chunk = chunk.filter(pc.equal(chunk["split"], "test"))
    _, n_words, flat, offsets = encode_chunk(chunk, vocab, False)
    n = int(n_words.sum())

    results = []
    for kind_name in args.kinds:
        kind = catalog.kind(kind_name)
        network = kind.networks[0].name
        settings = kind.settings(kind=kind_name, embedding_dim=args.dim, hidden_dim=args.dim)
        torch.manual_seed(settings.seed)
        model = family(kind_name).create(settings, len(vocab), {}).eval()

        def ours():
            return sentence_saliency(model, network, flat, offsets, n_words, torch.device("cpu"), args.batch_sentences)

        ours()  # warm-up
        captum_saliency(model, network, flat[: offsets[20]], offsets[:21])
        t_ours, ours_all = best_of(ours, args.repeats)
        holder = {}
        t_captum, captum_all = best_of(lambda: holder.update(out=captum_saliency(model, network, flat, offsets)),
                                       args.repeats)
        sal, _, predicted = ours()
        captum_sal, captum_pred = holder["out"]
        assert (predicted == captum_pred).all(), f"{kind_name}: predicted classes differ"
        diff = float(np.abs(sal - captum_sal).max())
        assert diff <= TOLERANCE, f"{kind_name}: saliency differs from Captum's by {diff:.2e} > {TOLERANCE}"
        row = {"kind": kind_name, "sentences": len(n_words), "words": n, "dim": args.dim,
               "batch_sentences": args.batch_sentences, "lingscope_seconds": ours_all, "captum_seconds": captum_all,
               "lingscope_words_per_s": n / t_ours, "captum_words_per_s": n / t_captum, "max_abs_diff": diff}
        row["speedup"] = row["lingscope_words_per_s"] / row["captum_words_per_s"]
        results.append(row)
        print(f"[{kind_name}] lingscope {row['lingscope_words_per_s']:,.0f} words/s, Captum "
              f"{row['captum_words_per_s']:,.0f} words/s, max |diff| {diff:.1e}", file=sys.stderr, flush=True)

    print(f"\nSplit saliency: {len(n_words):,} test sentences ({n:,} words), {args.dim}-d embeddings and states, "
          f"{args.threads} thread(s), best of {args.repeats}\n")
    print(table(
        ["model", "lingscope sentence_saliency (words/s)", "Captum Saliency per sentence (words/s)",
         "speed-up", "max abs diff", f"target >= {TARGET:.0f}x, <= 1e-6"],
        [[r["kind"], f"{r['lingscope_words_per_s']:,.0f}", f"{r['captum_words_per_s']:,.0f}", f"{r['speedup']:.1f}x",
          f"{r['max_abs_diff']:.1e}", "met" if r["speedup"] >= TARGET else "NOT MET"] for r in results]))
    summary = []
    for r in results:
        summary += [figure(f"lingscope / Captum words per second, {r['kind']} {r['dim']}-d", round(r["speedup"], 2),
                           f">= {TARGET:.0f}x"),
                    figure(f"lingscope words per second, {r['kind']} {r['dim']}-d", round(r["lingscope_words_per_s"]))]
    summary.append(figure("max abs diff from Captum, all kinds", max(r["max_abs_diff"] for r in results),
                          f"<= {TOLERANCE:g}"))
    path = write_results("saliency_speed", {"machine": machine(), "repeats": args.repeats, "results": results},
                         args.out, title="Sentence saliency: lingscope's batched pass against Captum's Saliency "
                         "per sentence", summary=summary)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
