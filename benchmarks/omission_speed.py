"""Omission-score speed on one core: lingscope's fast method against two baselines.

omission(i, S) = 1 - cos(h_end(S), h_end(S without word i)), <eos> kept. Measured in the
same run, on the same random-init IMAGINET models and val captions:

(a) ``lingscope.methods.omission.omission_scores``: prefix reuse and suffix batching (the fast
    path, which the GRU networks take because they offer a cell);
(b) ``lingscope.methods.omission.naive_omission``: the authors' method, one batch of the n + 1
    variants of each sentence, each run from scratch;
(c) Captum's ``FeatureAblation``, per sentence: the forward function takes the word ids as
    a float tensor ``(1, n)``, deletes every position equal to the baseline marker -1,
    appends <eos>, runs the model and returns ``1 - cos(h_end(S), h_end(variant))``; so the
    attribution of word i is ``f(S) - f(S \\ i) = -omission(i, S)``.
    Default ``perturbations_per_eval=1``; also ``perturbations_per_eval=n`` (``--captum-batched``).

All scores must agree with (a) to 1e-5 (asserted). Rates are per sentence, so the
sentence counts may differ. Targets: fast / naive >= 5x, fast / Captum >= 10x.

The BiLSTM case (``--bilstm-hidden``; random-init sentiment BiLSTM on the val sentences of a
synthetic Sentiment Treebank, read without <eos>): in the same process, (a) the two-sided fast
path (the model offers its forward and backward cells; asserted to be the path taken) against
(d) ``generic_omission``, the generic exact path the BiLSTM took before (every deletion variant
through ``Model.representation`` in padded batches), and (b) the authors' method; all equal to
1e-5 (asserted).

    python benchmarks/omission_speed.py [--hidden 256 1024] [--sentences 500] [--captum-sentences 100]
    python benchmarks/omission_speed.py --no-imaginet --bilstm-hidden 60 256 [--bilstm-sentences 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from _common import corpus, figure, machine, table, timed, treebank, write_results  # noqa: E402
from lingscope.encoding.captions import load_sentences  # noqa: E402
from lingscope.encoding.ids import EOS_ID, load_vocab_checked  # noqa: E402
from lingscope.methods.omission import (  # noqa: E402
    TWO_SIDED,
    generic_omission,
    naive_omission,
    omission_path,
    omission_scores,
)
from lingscope.models.base import Model
from lingscope.models.imaginet import Architecture, CaptionModel  # noqa: E402
from lingscope.models.sentiment import Architecture as SentimentArchitecture  # noqa: E402
from lingscope.models.sentiment import SentimentModel  # noqa: E402

MARKER = -1.0  # Captum baseline: "this word is deleted"


def h_end(model: Model, pathway: str, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return model.representation(pathway, model.embed(ids), lengths)


def captum_omission(model: Model, pathway: str, sentences: list[np.ndarray], per_eval: int | None) -> list[np.ndarray]:
    """Omission scores through Captum's FeatureAblation, one attribution call per sentence.
    ``per_eval`` None means n (every ablation of a sentence in one forward call)."""
    from captum.attr import FeatureAblation

    out = []
    for words in sentences:
        n = len(words)
        with torch.no_grad():
            full_ids = torch.from_numpy(np.append(words, EOS_ID)).unsqueeze(0)
            h_full = h_end(model, pathway, full_ids, torch.tensor([n + 1]))

        def forward(x: torch.Tensor) -> torch.Tensor:
            rows = [row[row != MARKER].long() for row in x]
            lengths = torch.tensor([len(r) + 1 for r in rows])
            ids = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)
            for k, r in enumerate(rows):
                ids[k, : len(r)] = r
                ids[k, len(r)] = EOS_ID
            h = h_end(model, pathway, ids, lengths)
            return 1.0 - F.cosine_similarity(h_full.expand_as(h), h, dim=1)

        inputs = torch.from_numpy(words.astype(np.float32)).unsqueeze(0)
        attr = FeatureAblation(forward).attribute(inputs, baselines=MARKER, perturbations_per_eval=per_eval or n)
        out.append((-attr[0]).double().numpy())
    return out


def race(methods: dict, repeats: int) -> tuple[dict, dict]:
    """Best-of-``repeats`` times and the last scores of each method, interleaved so that a slow
    spell hits all."""
    times = {name: [] for name in methods}
    scores = {}
    for _ in range(repeats):
        for name, fn in methods.items():
            holder = []
            times[name].append(timed(lambda fn=fn, holder=holder: holder.append(fn())))
            scores[name] = holder[0]
    return times, scores


def bilstm_rows(args) -> list[dict]:
    """The BiLSTM case: the two-sided fast path against the generic path and the authors' method."""
    paths = treebank(200, args.bilstm_sentences, 10)
    vocab = load_vocab_checked(paths["vocab"])
    sents = load_sentences(paths["sentences"], vocab, "val", limit=args.bilstm_sentences, eos=False)
    flat, offsets = sents.flat, sents.offsets
    n_words = np.diff(offsets)  # no <eos>: every token is a word
    ids = torch.from_numpy(flat)
    rows = []
    for H in args.bilstm_hidden:
        torch.manual_seed(0)
        model = SentimentModel(SentimentArchitecture("bilstm", len(vocab), args.bilstm_embedding_dim, H)).eval()
        assert omission_path(model, "sentiment") == TWO_SIDED, "the BiLSTM must take the two-sided fast path"
        methods = {
            "fast": lambda m=model: omission_scores(m, "sentiment", flat, offsets, n_words, "cpu", args.batch_rows),
            "generic": lambda m=model: generic_omission(m, "sentiment", ids, offsets, n_words, args.batch_rows),
            "naive": lambda m=model: np.concatenate(naive_omission(m, "sentiment", flat, offsets, n_words, "cpu")),
        }
        race({k: fn for k, fn in methods.items() if k != "naive"}, 1)  # warm-up
        times, scores = race(methods, args.repeats)
        diffs = {name: float(np.abs(sc - scores["fast"]).max()) for name, sc in scores.items() if name != "fast"}
        for name, d in diffs.items():
            assert d <= args.tolerance, f"bilstm h{H}: {name} differs from fast by {d:.2e} > {args.tolerance}"
        rates = {name: len(n_words) / min(t) for name, t in times.items()}
        row = {"model": "bilstm", "hidden_dim": H, "embedding_dim": args.bilstm_embedding_dim,
               "sentences": len(n_words), "words": int(n_words.sum()), "seconds": times, "sentences_per_s": rates,
               "max_abs_diff_vs_fast": diffs, "fast_over_generic": rates["fast"] / rates["generic"],
               "fast_over_naive": rates["fast"] / rates["naive"]}
        rows.append(row)
        print(f"[bilstm h{H}] " + ", ".join(f"{k} {v:,.1f} sent/s" for k, v in rates.items())
              + "; max |diff| " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()), file=sys.stderr, flush=True)
    print(f"\nOmission scores: random-init sentiment BiLSTM (embedding {args.bilstm_embedding_dim}), "
          f"{len(n_words)} synthetic SST val sentences ({n_words.mean():.1f} words/sentence, no <eos>), "
          f"{args.threads} thread(s), best of {args.repeats}\n")
    print(table(["hidden", "two-sided fast (sent/s)", "generic (sent/s)", "naive (sent/s)", "fast / generic",
                 "fast / naive", "max abs diff generic / naive"],
                [[r["hidden_dim"], f"{r['sentences_per_s']['fast']:,.0f}", f"{r['sentences_per_s']['generic']:,.0f}",
                  f"{r['sentences_per_s']['naive']:,.0f}", f"{r['fast_over_generic']:.2f}x",
                  f"{r['fast_over_naive']:.2f}x",
                  f"{r['max_abs_diff_vs_fast']['generic']:.1e} / {r['max_abs_diff_vs_fast']['naive']:.1e}"]
                 for r in rows]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=2000, help="train images of the corpus (shared with the other benchmarks)")
    ap.add_argument("--n-val", type=int, default=5000)
    ap.add_argument("--hidden", nargs="+", type=int, default=[256, 1024])
    ap.add_argument("--embedding-dim", type=int, default=128)
    ap.add_argument("--pathways", nargs="+", default=["textual", "visual"], choices=("textual", "visual"))
    ap.add_argument("--sentences", type=int, default=500, help="val captions for fast and naive")
    ap.add_argument("--captum-sentences", type=int, default=100, help="the first N of those for Captum")
    ap.add_argument("--captum-batched", action=argparse.BooleanOptionalAction, default=True,
                    help="also time Captum with perturbations_per_eval=n")
    ap.add_argument("--batch-rows", type=int, default=1024, help="as the omission CLI's default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tolerance", type=float, default=1e-5)
    ap.add_argument("--imaginet", action=argparse.BooleanOptionalAction, default=True,
                    help="time the IMAGINET networks against the naive method and Captum")
    ap.add_argument("--bilstm-hidden", nargs="*", type=int, default=[60, 256],
                    help="hidden sizes of the BiLSTM case (none: skip it); 60 is the paper's")
    ap.add_argument("--bilstm-embedding-dim", type=int, default=60)
    ap.add_argument("--bilstm-sentences", type=int, default=500, help="synthetic SST val sentences")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", module="captum")
    results = []
    if args.imaginet:
        results += imaginet_rows(args)
    if args.bilstm_hidden:
        results += bilstm_rows(args)
    summary = []
    for r in results:
        if r.get("model") == "bilstm":
            label = f"BiLSTM hidden {r['hidden_dim']}"
            summary += [figure(f"two-sided fast / generic, {label}", round(r["fast_over_generic"], 2)),
                        figure(f"two-sided fast / naive, {label}", round(r["fast_over_naive"], 2))]
        else:
            label = f"IMAGINET {r['pathway']} hidden {r['hidden_dim']}"
            summary += [figure(f"fast / naive, {label}", round(r["fast_over_naive"], 2), ">= 5x"),
                        figure(f"fast / Captum FeatureAblation, {label}", round(r["fast_over_captum"], 2), ">= 10x"),
                        figure(f"fast sentences per second, {label}", round(r["sentences_per_s"]["fast"], 1))]
    path = write_results("omission_speed", {"machine": machine(), "repeats": args.repeats, "results": results},
                         args.out, title="Omission scores: the fast path against the authors' method and Captum",
                         summary=summary)
    print(f"\nwrote {path}")


def imaginet_rows(args) -> list[dict]:
    """The IMAGINET networks: the prefix-reuse fast path against the naive method and Captum."""
    paths = corpus(args.n_train, args.n_val)
    vocab = load_vocab_checked(paths["vocab"])
    caps = load_sentences(paths["sentences"], vocab, "val", limit=args.sentences)
    flat, offsets = caps.flat, caps.offsets
    sentences = [flat[offsets[k] : offsets[k + 1] - 1] for k in range(len(caps))]
    lengths = caps.lengths - 1  # words per sentence (<eos> after them)
    n_c = min(args.captum_sentences, len(sentences))
    n_words = int(caps.lengths.sum() - len(caps))
    n_words_c = int(sum(len(s) for s in sentences[:n_c]))

    results = []
    for H in args.hidden:
        torch.manual_seed(0)
        model = CaptionModel(Architecture("imaginet", len(vocab), 128, args.embedding_dim, H)).eval()
        for pathway in args.pathways:
            methods = {
                "fast": (len(caps), lambda: omission_scores(model, pathway, flat, offsets, lengths, "cpu", args.batch_rows)),
                "naive": (len(caps), lambda: np.concatenate(naive_omission(model, pathway, flat, offsets, lengths, "cpu"))),
                "captum": (n_c, lambda: np.concatenate(captum_omission(model, pathway, sentences[:n_c], 1))),
            }
            if args.captum_batched:
                methods["captum_batched"] = (n_c, lambda: np.concatenate(captum_omission(model, pathway, sentences[:n_c], None)))
            # Warm-up on a few sentences.
            omission_scores(model, pathway, flat[: offsets[20]], offsets[:21], lengths[:20], "cpu", args.batch_rows)
            naive_omission(model, pathway, flat[: offsets[20]], offsets[:21], lengths[:20], "cpu")
            captum_omission(model, pathway, sentences[:5], 1)
            times = {name: [] for name in methods}
            scores = {}
            for _ in range(args.repeats):  # interleaved, so a slow spell hits all
                for name, (_, fn) in methods.items():
                    holder = []
                    times[name].append(timed(lambda: holder.append(fn())))
                    scores[name] = holder[0]
            ref = scores["fast"]
            diffs = {name: float(np.abs(s - ref[: len(s)]).max()) for name, s in scores.items() if name != "fast"}
            for name, d in diffs.items():
                assert d <= args.tolerance, f"h{H}/{pathway}: {name} differs from fast by {d:.2e} > {args.tolerance}"
            rates = {name: methods[name][0] / min(t) for name, t in times.items()}
            row = {"hidden_dim": H, "embedding_dim": args.embedding_dim, "pathway": pathway,
                   "sentences": {k: v[0] for k, v in methods.items()},
                   "words": {k: (n_words if v[0] == len(caps) else n_words_c) for k, v in methods.items()},
                   "seconds": times, "sentences_per_s": rates, "max_abs_diff_vs_fast": diffs,
                   "fast_over_naive": rates["fast"] / rates["naive"], "fast_over_captum": rates["fast"] / rates["captum"]}
            if "captum_batched" in rates:
                row["fast_over_captum_batched"] = rates["fast"] / rates["captum_batched"]
            results.append(row)
            print(f"[h{H} {pathway}] " + ", ".join(f"{k} {v:,.1f} sent/s" for k, v in rates.items())
                  + "; max |diff| " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()), file=sys.stderr, flush=True)

    mean_words = n_words / len(caps)
    print(f"\nOmission scores: random-init IMAGINET (embedding {args.embedding_dim}), {len(caps)} val captions for fast/naive "
          f"and the first {n_c} for Captum ({mean_words:.1f} words/sentence), {args.threads} thread(s), best of {args.repeats}\n")
    headers = ["hidden", "pathway", "fast (sent/s)", "naive (sent/s)", "Captum ppe=1 (sent/s)"]
    if args.captum_batched:
        headers.append("Captum ppe=n (sent/s)")
    headers += ["fast / naive", "fast / Captum", "max abs diff naive / Captum", "targets (>=5x, >=10x)"]
    rows = []
    for r in results:
        rt = r["sentences_per_s"]
        row = [r["hidden_dim"], r["pathway"], f"{rt['fast']:,.0f}", f"{rt['naive']:,.0f}", f"{rt['captum']:,.1f}"]
        if args.captum_batched:
            row.append(f"{rt['captum_batched']:,.1f}")
        met = ["met" if r["fast_over_naive"] >= 5 else "NOT MET", "met" if r["fast_over_captum"] >= 10 else "NOT MET"]
        row += [f"{r['fast_over_naive']:.1f}x", f"{r['fast_over_captum']:.1f}x",
                f"{r['max_abs_diff_vs_fast']['naive']:.1e} / {r['max_abs_diff_vs_fast']['captum']:.1e}", " / ".join(met)]
        rows.append(row)
    print(table(headers, rows))
    return results


if __name__ == "__main__":
    main()
