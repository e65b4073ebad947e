"""A pretrained network's methods run as fast as the same network built natively (one core).

The same weights, twice, in the same process:

- **native**: lingscope's own language model (``lm``; :class:`lingscope.models.imaginet.CaptionModel`,
  ``cell: lstm``, ``layers: 2``; ``--embedding`` 128, ``--hidden`` 256, a vocabulary of
  ``--vocab`` 10,000 ids: the synthetic corpus's words, padded out with filler words), seeded
  random init, saved with ``save_model``. Its ``<pad>`` logit is set to the pretrained path's
  :data:`lingscope.models.pretrained.ABSENT_LOGIT` (a zero weight row), the one logit the user's
  network below does not have, so the two networks are the same function;
- **pretrained**: those weights as a plain-PyTorch module in the layout of PyTorch's
  word-language-model example (``encoder`` an ``nn.Embedding``, ``rnn`` an ``nn.LSTM``,
  ``decoder`` an ``nn.Linear``) over the vocabulary without ``<pad>``, its ids **shuffled**
  (seeded; ``<unk>`` and ``<eos>`` somewhere in the middle), written as a ``state_dict`` and a
  ``vocab.txt`` and converted by the check job (``python -m lingscope.models.pretrained``, a
  subprocess) into a ``PretrainedModel``, its embedding and head rows renumbered to lingscope's ids.

Both are loaded from their files with ``lingscope.models.base.load_network`` (as every job does)
and timed on the same val captions of the synthetic MSCOCO corpus, each encoded with its own
model's vocabulary (the pretrained one cased, as the check job writes it):

(a) omission: ``lingscope.methods.omission.omission_scores``, what the omission job calls per
    chunk (its chunks of 16,384 words; both models take the prefix-reuse path through their
    ``StackedCell``), on ``--omission-sentences``;
(b) attribution: ``lingscope.methods.attribution.sentence_attributions``, what the attribution job
    calls (saliency, gradient x input and integrated gradients through ``attribute_batch``), with the
    job's default settings (50 Gauss-Legendre points, length-sorted batches of 64 sentences, 512
    rows per backward pass), called on one of the job's batches at a time, on
    ``--attribution-sentences`` (the job's default sample: 200);
(c) the activation dump: ``lingscope.methods.activations.ChunkComputer``, what the dump job calls
    per chunk (the top layer through the cell, the layers below through ``layer_states``; its
    one-off cell check runs in the warm-up), over chunks of 2,048 sentences, the states then cast
    to float32 NumPy as the job does before its writer thread takes them, on ``--dump-sentences``;
    and the same with ``gates`` on (the top layer's i, f, g, o and c).

Before timing, the token ids are checked to be the same sentences after mapping the pretrained
ids to the native ones. After timing, every output (the omission scores; the six per-word
attribution columns and the three per-sentence values; every layer's states, the representations
and the gates) must agree to 1e-5, absolute, or relative to the value where it exceeds 1 (the
attribution's scores are sentence log-likelihoods, ~-100, float32 sums of a softmax taken over
the rows in another order; its completeness gap, IG's total minus the score's change, relative
to the larger of the two scores it is taken from); the script exits non-zero where they do not.

**Timing.** The machine is shared, so every piece of work the jobs call at once (a chunk, a
batch) is timed on both models back to back, who goes first alternating, ``--repeats`` times
(after a warm-up); a model's time is the sum over the pieces of each piece's best, on one torch
thread. The ratio of the best whole runs is recorded too. Target: native time / pretrained time
>= 0.95 for each method.

    python benchmarks/pretrained_speed.py [--vocab 10000] [--embedding 128] [--hidden 256] [--repeats 5]
        [--omission-sentences 5000] [--attribution-sentences 200] [--dump-sentences 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from _common import OUT, SEED, corpus, figure, machine, table, timed, val_subset, write_results  # noqa: E402
from lingscope.encoding.captions import length_batches, load_sentences  # noqa: E402
from lingscope.encoding.ids import SPECIALS, Vocabulary, load_vocab, load_vocab_checked  # noqa: E402
from lingscope.encoding.stream import encode_chunk, iter_sentence_chunks  # noqa: E402
from lingscope.methods.activations import ChunkComputer  # noqa: E402
from lingscope.methods.attribution import WORD_COLUMNS, sentence_attributions  # noqa: E402
from lingscope.methods.omission import omission_path, omission_scores  # noqa: E402
from lingscope.methods.settings import AttributionSettings, OmissionSettings  # noqa: E402
from lingscope.models.checkpoint import load_network, save_model
from lingscope.models.imaginet import Architecture, CaptionModel  # noqa: E402
from lingscope.models.pretrained import ABSENT_LOGIT, PretrainedModel  # noqa: E402

NETWORK = "textual"
TOLERANCE = 1e-5
TARGET = 0.95
CHUNK_SENTENCES = 2048  # the dump job's default
BATCH_ROWS = 1024  # the omission and dump jobs' default


class WordLanguageModel(nn.Module):
    """PyTorch's word-language-model example's ``RNNModel`` (LSTM, untied, dropout off): the
    module a user trained outside lingscope."""

    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)


def native_vocabulary(words: list[str], size: int) -> Vocabulary:
    """lingscope's ids: the specials, the corpus's words, then filler words up to ``size``."""
    tokens = [*SPECIALS, *words]
    tokens += [f"filler{k:05d}" for k in range(size - len(tokens))]
    return Vocabulary((t, i) for i, t in enumerate(tokens))


def build_models(args, work: Path, words: list[str]) -> dict:
    """The native model and its vocabulary, the user's files, and the check job's conversion of them."""
    vocab = native_vocabulary(words, args.vocab)
    torch.manual_seed(SEED)
    native = CaptionModel(Architecture("lm", len(vocab), 0, args.embedding, args.hidden, cell="lstm",
                                       layers=args.layers)).eval()
    with torch.no_grad():  # the one logit the user's network lacks, as the check job sets it
        native.textual_out.weight[0] = 0.0
        native.textual_out.bias[0] = ABSENT_LOGIT
    save_model(work / "native.pt", native, {"name": "native"})

    # The user's ids: every token but <pad>, shuffled (the specials land anywhere).
    rng = np.random.default_rng(SEED)
    user_tokens = [t for t in sorted(vocab, key=vocab.get) if t != SPECIALS[0]]
    user_tokens = [user_tokens[k] for k in rng.permutation(len(user_tokens))]
    rows = torch.tensor([vocab[t] for t in user_tokens])  # user id -> native id
    user = WordLanguageModel(len(user_tokens), args.embedding, args.hidden, args.layers)
    with torch.no_grad():
        user.encoder.weight.copy_(native.embedding.weight[rows])
        user.rnn.load_state_dict(native.textual.state_dict())
        user.decoder.weight.copy_(native.textual_out.weight[rows])
        user.decoder.bias.copy_(native.textual_out.bias[rows])
    torch.save(user.state_dict(), work / "user.pt")
    (work / "vocab.txt").write_text("".join(t + "\n" for t in user_tokens), encoding="utf-8")

    convert = [sys.executable, "-m", "lingscope.models.pretrained", "--name", "pretrained", "--corpus", "coco",
               "--checkpoint", str(work / "user.pt"), "--vocabulary", str(work / "vocab.txt"), "--cell", "lstm",
               "--layers", str(args.layers), "--out-model", str(work / "pretrained.pt"),
               "--out-vocab", str(work / "pretrained_vocab.parquet"), "--out-report", str(work / "report.json")]
    subprocess.run(convert, check=True)

    native_model, _ = load_network(work / "native.pt", NETWORK)
    pretrained_model, _ = load_network(work / "pretrained.pt", NETWORK)
    assert isinstance(pretrained_model, PretrainedModel), type(pretrained_model)
    pretrained_vocab = load_vocab_checked(work / "pretrained_vocab.parquet")
    assert getattr(pretrained_vocab, "cased", False), "the check job's vocabulary must be cased"
    to_native = np.full(len(pretrained_vocab), -1, np.int64)  # pretrained id -> native id (<pad>: 0)
    for token, i in pretrained_vocab.items():
        to_native[i] = vocab[token]
    assert (to_native >= 0).all() and len(np.unique(to_native)) == len(vocab), "the vocabularies differ"
    assert not np.array_equal(to_native, np.arange(len(vocab))), "the user's ids must be in another order"
    return {"models": {"native": native_model, "pretrained": pretrained_model},
            "vocabs": {"native": vocab, "pretrained": pretrained_vocab}, "to_native": to_native,
            "user_first_tokens": user_tokens[:5], "user_specials_at": [user_tokens.index(t) for t in SPECIALS[1:]],
            "parameters": sum(p.numel() for p in native.parameters())}


def check_same_ids(to_native: np.ndarray, native: tuple[np.ndarray, np.ndarray],
                   pretrained: tuple[np.ndarray, np.ndarray], what: str) -> None:
    """The two encodings are the same sentences once the pretrained ids are mapped to the native ones."""
    assert np.array_equal(native[1], pretrained[1]), f"{what}: the sentences' offsets differ"
    assert np.array_equal(to_native[pretrained[0]], native[0]), f"{what}: the token ids differ after mapping"


def difference(a: np.ndarray, b: np.ndarray, scale: np.ndarray | None = None) -> tuple[float, float]:
    """``(max |a - b|, max |a - b| / max(1, scale))``, ``scale`` being ``|b|`` unless given."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shapes {a.shape} and {b.shape}"
    if a.size == 0:
        return 0.0, 0.0
    d = np.abs(a - b)
    return float(d.max()), float((d / np.maximum(1.0, np.abs(b) if scale is None else scale)).max())


def worst(into: dict, key: str, diff: tuple[float, float]) -> None:
    """Keep the larger absolute and the larger relative difference under ``key``."""
    old = into.get(key, (0.0, 0.0))
    into[key] = (max(old[0], diff[0]), max(old[1], diff[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=2000, help="train images of the corpus (shared with the other benchmarks)")
    ap.add_argument("--n-val", type=int, default=5000, help="val images (x5 captions)")
    ap.add_argument("--vocab", type=int, default=10000, help="lingscope's vocabulary size, <pad> included")
    ap.add_argument("--embedding", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--omission-sentences", type=int, default=5000)
    ap.add_argument("--attribution-sentences", type=int, default=200, help="the attribution job's default sample")
    ap.add_argument("--dump-sentences", type=int, default=10000)
    ap.add_argument("--gates", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the dump with the gate columns")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of every piece on each model, alternating (a piece's best counts)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    paths = corpus(args.n_train, args.n_val)
    words = [t for t in sorted(load_vocab(paths["vocab"]), key=load_vocab(paths["vocab"]).get) if t not in SPECIALS]
    work = OUT / "work" / "pretrained_speed"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    built = build_models(args, work, words)
    models, vocabs, to_native = built["models"], built["vocabs"], built["to_native"]
    for name, model in models.items():
        assert omission_path(model, NETWORK) == "prefix reuse", f"{name}: not the prefix-reuse path"
        assert model.reads_eos, name
    names = ("native", "pretrained")

    # (a) omission: the job's chunks of words, each encoded by each model's vocabulary.
    om_chunks = {name: [] for name in names}
    for chunk in iter_sentence_chunks(val_subset(paths, args.omission_sentences), "val",
                                      chunk_tokens=OmissionSettings().chunk_tokens):
        for name in names:
            _, n_words, flat, offsets = encode_chunk(chunk, vocabs[name], True)
            om_chunks[name].append((flat, offsets, n_words))
        check_same_ids(to_native, om_chunks["native"][-1][:2], om_chunks["pretrained"][-1][:2], "omission")
    om_words = sum(int(c[2].sum()) for c in om_chunks["native"])

    # (b) attribution: the sentences as the job loads them, in the job's batches.
    at_path = val_subset(paths, args.attribution_sentences)
    at = {name: load_sentences(at_path, vocabs[name], "val", eos=True) for name in names}
    check_same_ids(to_native, (at["native"].flat, at["native"].offsets),
                   (at["pretrained"].flat, at["pretrained"].offsets), "attribution")
    at_rows = np.arange(len(at["native"]))
    at_n_words = np.array([len(at["native"].tokens[r]) for r in at_rows], dtype=np.int64)
    at_settings = AttributionSettings(sample=0)
    at_batches = length_batches(at["native"].lengths[at_rows], at_settings.batch_sentences, None)

    # (c) the dump: the job's chunks, read beforehand (the job streams them; reading is the same for both).
    chunks = list(iter_sentence_chunks(val_subset(paths, args.dump_sentences), "val", chunk_sentences=CHUNK_SENTENCES))
    for chunk in chunks:
        enc = {name: encode_chunk(chunk, vocabs[name], True) for name in names}
        check_same_ids(to_native, enc["native"][2:], enc["pretrained"][2:], "dump")
    dump_tokens = sum(len(encode_chunk(c, vocabs["native"], True)[2]) for c in chunks)

    def omission(name: str, k: int):
        flat, offsets, n_words = om_chunks[name][k]
        return omission_scores(models[name], NETWORK, flat, offsets, n_words, "cpu", BATCH_ROWS)

    def attribution(name: str, k: int):
        # The job's call on one of its batches (sentence_attributions cuts the same batch again).
        rows = at_rows[at_batches[k]]
        return sentence_attributions(models[name], NETWORK, at[name], rows, at_n_words[rows], at_settings, "cpu")

    # One chunk computer per model and setting, as per job; its one-off cell check runs in the warm-up.
    computers = {(name, gates): ChunkComputer(models[name], NETWORK, vocabs[name], torch.device("cpu"), BATCH_ROWS,
                                              gates) for name in names for gates in (False, True)}

    def dumper(gates: bool):
        def go(name: str, k: int):
            _, _, _, _, layer_states, reps, gate_values = computers[name, gates](chunks[k])
            # as the job, before its writer thread takes them
            return ([v.to(torch.float32).cpu().numpy() for v in layer_states], reps.to(torch.float32).cpu().numpy(),
                    {g: v.to(torch.float32).cpu().numpy() for g, v in gate_values.items()})
        return go

    methods = {"omission": (omission, len(om_chunks["native"])), "attribution": (attribution, len(at_batches)),
               "dump": (dumper(False), len(chunks))}
    if args.gates:
        methods["dump_gates"] = (dumper(True), len(chunks))
    work_units = {"omission": ("words", om_words), "attribution": ("words", int(at_n_words.sum())),
                  "dump": ("tokens", dump_tokens), "dump_gates": ("tokens", dump_tokens)}

    # Warm-up: allocator, MKL, the autograd graph, the layer views, the dump's cell check.
    for fn, _ in methods.values():
        for name in names:
            fn(name, 0)

    # times[method][model][piece][repeat]: every piece (a chunk, a batch) timed on both models
    # back to back, who goes first alternating; a piece's best counts.
    times = {m: {name: [[] for _ in range(n)] for name in names} for m, (_, n) in methods.items()}
    outputs: dict = {m: {name: [None] * n for name in names} for m, (_, n) in methods.items()}
    for r in range(args.repeats):
        for m, (fn, n) in methods.items():
            for k in range(n):
                for name in (names if (r + k) % 2 == 0 else names[::-1]):
                    holder = []
                    times[m][name][k].append(timed(lambda: holder.append(fn(name, k))))
                    outputs[m][name][k] = holder[0]
        print(f"[repeat {r + 1}/{args.repeats}] " + ", ".join(
            f"{m} {sum(t[-1] for t in times[m]['native']):.2f}/{sum(t[-1] for t in times[m]['pretrained']):.2f} s"
            for m in methods), file=sys.stderr, flush=True)

    # The outputs agree.
    diffs: dict[str, dict[str, tuple[float, float]]] = {}
    o = outputs["omission"]
    diffs["omission"] = {"omission": difference(np.concatenate(o["pretrained"]), np.concatenate(o["native"]))}
    a = outputs["attribution"]
    diffs["attribution"] = {}
    for nat, pre in zip(a["native"], a["pretrained"], strict=True):
        for k in (*WORD_COLUMNS, "score", "baseline_score"):
            worst(diffs["attribution"], k, difference(pre[k], nat[k]))
        # IG's total minus S(e) - S(b): a small difference of two sums of ~100, compared at their scale
        scale = np.maximum(np.abs(nat["score"]), np.abs(nat["baseline_score"]))
        worst(diffs["attribution"], "completeness_gap", difference(pre["completeness_gap"], nat["completeness_gap"],
                                                                   scale))
    for m in ("dump", "dump_gates"):
        if m not in outputs:
            continue
        d = outputs[m]
        diffs[m] = {}
        for nat, pre in zip(d["native"], d["pretrained"], strict=True):
            for layer, (x, y) in enumerate(zip(nat[0], pre[0], strict=True)):
                worst(diffs[m], f"layer {layer}", difference(y, x))
            worst(diffs[m], "representation", difference(pre[1], nat[1]))
            assert set(nat[2]) == set(pre[2]), f"{m}: gates {sorted(nat[2])} and {sorted(pre[2])}"
            for g in nat[2]:
                worst(diffs[m], f"gate {g}", difference(pre[2][g], nat[2][g]))
    failed = [f"{m} {k}: max |diff| {v[0]:.2e} (relative {v[1]:.2e}) > {TOLERANCE}"
              for m, per in diffs.items() for k, v in per.items() if v[1] > TOLERANCE]

    results = []
    for m in methods:
        unit, n = work_units[m]
        best = {name: sum(min(t) for t in times[m][name]) for name in names}
        runs = {name: [sum(t[r] for t in times[m][name]) for r in range(args.repeats)] for name in names}
        row = {"method": m, "unit": unit, "units": n, "pieces": methods[m][1], "seconds_per_piece": times[m],
               "run_seconds": runs, "native_best_s": best["native"], "pretrained_best_s": best["pretrained"],
               "ratio_of_best_runs": min(runs["native"]) / min(runs["pretrained"]),
               "native_per_s": n / best["native"], "pretrained_per_s": n / best["pretrained"],
               "ratio": best["native"] / best["pretrained"],
               "max_abs_diff": max(v[0] for v in diffs[m].values()),
               "max_rel_diff": max(v[1] for v in diffs[m].values()),
               "diffs": {k: {"abs": v[0], "rel": v[1]} for k, v in diffs[m].items()}}
        row["met"] = row["ratio"] >= TARGET and row["max_rel_diff"] <= TOLERANCE
        results.append(row)

    label = {"omission": "omission scores (omission_scores, prefix reuse)",
             "attribution": "attribution (sentence_attributions: saliency + IG, 50 points)",
             "dump": "activation dump (ChunkComputer, every layer)",
             "dump_gates": "activation dump with gates (ChunkComputer)"}
    print(f"\nPretrained vs native: lm LSTM {args.layers}x{args.hidden}, embedding {args.embedding}, vocabulary "
          f"{args.vocab:,} ({built['parameters']:,} parameters), val captions of the synthetic corpus, "
          f"{args.threads} thread(s), the sum of every chunk's or batch's best of {args.repeats}\n")
    print(table(["method", "work", "native (s)", "pretrained (s)", "native / pretrained time", "max abs diff",
                 "max rel diff", f"target >= {TARGET}"],
                [[label[r["method"]], f"{r['units']:,} {r['unit']}", f"{r['native_best_s']:.3f}",
                  f"{r['pretrained_best_s']:.3f}", f"{r['ratio']:.3f}", f"{r['max_abs_diff']:.1e}",
                  f"{r['max_rel_diff']:.1e}", "met" if r["met"] else "NOT MET"] for r in results]))
    summary = []
    for r in results:
        summary += [figure(f"native / pretrained time, {label[r['method']]}", round(r["ratio"], 3), f">= {TARGET}"),
                    figure(f"max diff pretrained vs native (relative where |value| > 1), {label[r['method']]}",
                           r["max_rel_diff"], f"<= {TOLERANCE:g}"),
                    figure(f"max abs diff pretrained vs native, {label[r['method']]}", r["max_abs_diff"])]
    notes = [f"the user's vocabulary: {args.vocab - 1:,} tokens (no <pad>), shuffled; <unk> is the user's id "
             f"{built['user_specials_at'][0]}, <eos> id {built['user_specials_at'][1]}",
             "times: every chunk (omission, dump) or batch (attribution) timed on both models back to back, the "
             "order alternating, the sum of each piece's best; ratio_of_best_runs compares whole runs instead",
             "attribution's score and baseline_score are sentence log-likelihoods (~-100); their differences are "
             "float32 rounding of a softmax summed over the rows in another order, compared relative to the value"]
    path = write_results("pretrained_speed", {
        "machine": machine(), "repeats": args.repeats,
        "model": {"kind": "lm", "cell": "lstm", "layers": args.layers, "embedding_dim": args.embedding,
                  "hidden_dim": args.hidden, "vocab": args.vocab, "parameters": built["parameters"]},
        "sentences": {"omission": args.omission_sentences, "attribution": args.attribution_sentences,
                      "dump": args.dump_sentences},
        "results": results}, args.out,
        title="A pretrained network's methods against the same network built natively", summary=summary, notes=notes)
    shutil.rmtree(work, ignore_errors=True)
    print(f"\nwrote {path}")
    if failed:
        print("\n".join(failed), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
