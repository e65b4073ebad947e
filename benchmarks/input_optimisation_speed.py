"""Input optimisation speed on one core (Poerner et al. 2018; issue 12's targets).

Measured in the same run, on IMAGINET at the default config's sizes (64-d embeddings, 128-d GRU
states, created through its catalog family and seeded) with the vocabulary of a synthetic MSCOCO
corpus at the default size (3,000 / 500 / 500 images):

(a) **batched vs one unit at a time.** Each gradient method optimises the 160 drawn units of a
    readout (VISUAL's image projection; TEXTUAL's vocabulary logits) in one batch, against the
    authors' loop: one ``optimise`` call per unit. The schedule is fixed (``patience`` equal to
    ``max_epochs``, so every unit runs every step in both), and the results must be equal:
    the same 5-grams, activations to 1e-5 (asserted). Target: >= 20x neuron-steps per second.
(b) **crp vs the raw forward pass.** ``corpus_search`` over every distinct 5-gram of the
    corpus, streamed from DuckDB in batches, for every unit at once, against the bare forward
    pass (``embed`` + the network + the readout) over the same 5-grams already in memory, in
    batches of the same size. Target: crp's 5-grams per second >= 0.8 of the raw pass.

    python benchmarks/input_optimisation_speed.py [--steps 20] [--repeats 3] [--methods gbl] [--no-crp]
        [--device cpu|cuda|auto]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _common import best_of, corpus, figure, machine, table, write_results  # noqa: E402
from lingscope.core import catalog  # noqa: E402
from lingscope.encoding.ids import load_vocab_checked  # noqa: E402
from lingscope.methods.input_optimisation import (GRADIENT_METHODS, CorpusNgrams, Schedule,  # noqa: E402
                                                  corpus_search, draw_units, optimise, unit_activations)
from lingscope.models.checkpoint import family, pick_device

BATCH_TARGET = 20.0
CRP_TARGET = 0.8


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="optimisation steps per unit (fixed schedule)")
    p.add_argument("--samples", type=int, default=64, help="gbl's Gumbel samples per step (the authors: 64)")
    p.add_argument("--batch-size", type=int, default=4096, help="crp's 5-grams per forward pass")
    p.add_argument("--methods", nargs="+", default=list(GRADIENT_METHODS), choices=GRADIENT_METHODS)
    p.add_argument("--no-crp", action="store_true", help="leave out part (b)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--corpus", nargs=3, type=int, default=[3000, 500, 500], metavar=("TRAIN", "VAL", "TEST"),
                   help="images of the synthetic MSCOCO whose vocabulary and 5-grams are used")
    p.add_argument("--units", type=int, default=None, help="only the first N of the drawn units (default: all 160)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (the model in eval mode, as the method runs)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    paths = corpus(*args.corpus)
    vocab = load_vocab_checked(paths["vocab"])
    kind = catalog.kind("imaginet")
    torch.manual_seed(0)
    model = family("imaginet").create(kind.settings(kind="imaginet"), len(vocab), {"image": 128}).to(device).eval()
    schedule = Schedule(steps=args.steps, patience=1, max_epochs=1)  # one epoch: every unit takes every step
    results = {"batched": [], "crp": []}
    rows = []
    for network, readout in (("visual", "image"), ("textual", "vocabulary")):
        units = draw_units(model.readouts(network)[readout].units)[:args.units]
        for method in args.methods:
            kwargs = {"samples": args.samples, "seed": 1}

            def batched():
                return optimise(model, network, readout, units, method, schedule, **kwargs)

            def alone():
                return [optimise(model, network, readout, units[i:i + 1], method, schedule, **kwargs)
                        for i in range(len(units))]

            t_batch, all_batch = best_of(batched, args.repeats)
            t_alone, all_alone = best_of(alone, 1)  # minutes for gbl; once is enough
            together, each = batched(), alone()
            assert np.array_equal(together.ids, np.concatenate([e.ids for e in each])), (network, method)
            np.testing.assert_allclose(together.activation, np.concatenate([e.activation for e in each]), atol=1e-5)
            neuron_steps = len(units) * args.steps
            ratio = t_alone / t_batch
            results["batched"].append({"network": network, "method": method, "device": str(device), "units": len(units),
                                       "steps": args.steps, "samples": args.samples if method == "gbl" else 1,
                                       "batched_seconds": all_batch, "alone_seconds": all_alone,
                                       "batched_neuron_steps_per_s": neuron_steps / t_batch,
                                       "alone_neuron_steps_per_s": neuron_steps / t_alone, "ratio": ratio})
            rows.append([network, method, len(units), f"{neuron_steps / t_batch:,.0f}",
                         f"{neuron_steps / t_alone:,.0f}", f"{ratio:.1f}x", "yes" if ratio >= BATCH_TARGET else "NO"])
            print(rows[-1], flush=True)

    crp_rows = []
    if not args.no_crp:
        with tempfile.TemporaryDirectory() as folder:
            store = CorpusNgrams(paths["sentences"], ("train", "val", "test"), vocab, 5, 65536, Path(folder))
            grams = np.concatenate(list(store.batches(args.batch_size)))
            for network, readout in (("visual", "image"), ("textual", "vocabulary")):
                units = draw_units(model.readouts(network)[readout].units)[:args.units]

                def crp():
                    return corpus_search(model, network, readout, units, store.batches(args.batch_size), args.batch_size)

                @torch.no_grad()
                def raw():
                    for start in range(0, len(grams), args.batch_size):
                        batch = torch.from_numpy(grams[start:start + args.batch_size]).to(device)
                        unit_activations(model, network, readout, model.embed(batch))
                    if device.type == "cuda":
                        torch.cuda.synchronize()

                t_crp, all_crp = best_of(crp, args.repeats)
                t_raw, all_raw = best_of(raw, args.repeats)
                ratio = t_raw / t_crp
                results["crp"].append({"network": network, "ngrams": len(grams), "windows": store.windows,
                                       "batch_size": args.batch_size, "crp_seconds": all_crp, "raw_seconds": all_raw,
                                       "crp_ngrams_per_s": len(grams) / t_crp, "raw_ngrams_per_s": len(grams) / t_raw,
                                       "ratio": ratio})
                crp_rows.append([network, f"{len(grams):,}", f"{len(grams) / t_crp:,.0f}", f"{len(grams) / t_raw:,.0f}",
                                 f"{ratio:.2f}", "yes" if ratio >= CRP_TARGET else "NO"])

    print(f"\n(a) Batched over units vs one unit at a time: IMAGINET 64/128, {args.steps} steps per unit, "
          f"gbl with {args.samples} samples, {args.threads} thread(s), {device}; best of {args.repeats} (batched), "
          "1 (alone)\n")
    print(table(["network", "method", "units", "batched neuron-steps/s", "alone neuron-steps/s", "ratio",
                 f">= {BATCH_TARGET:.0f}x"], rows))
    if crp_rows:
        print(f"\n(b) crp vs the raw forward pass, batches of {args.batch_size:,}\n")
        print(table(["network", "distinct 5-grams", "crp 5-grams/s", "raw forward 5-grams/s", "ratio",
                 f">= {CRP_TARGET}"], crp_rows))
    summary = [figure(f"batched / one unit at a time, {r['network']} {r['method']}, {device}", round(r["ratio"], 2),
                      f">= {BATCH_TARGET:.0f}x") for r in results["batched"]]
    summary += [figure(f"crp / raw forward pass, 5-grams per second, {r['network']}, {device}", round(r["ratio"], 3),
                       f">= {CRP_TARGET}") for r in results["crp"]]
    path = write_results("input_optimisation_speed", {"machine": machine(), "repeats": args.repeats, **results},
                         args.out, title="Input optimisation: batched over units against one unit at a time; "
                         "crp against the raw forward pass", summary=summary)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
