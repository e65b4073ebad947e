"""The Parquet tables lingscope writes, one schema each.

This module is the single source of truth. ``python -m lingscope.core.schemas --out DIR`` writes
the same schemas as JSON documents to ``workflow/schemas/tables/``; a test keeps them in sync.

Conventions shared by every table:
- ``sentence_id`` is unique within a corpus across all its splits (MSCOCO: Karpathy's
  ``sentid`` or the official annotation id; SST and WMT: running numbers over
  train, val, test).
- ``position`` counts tokens from 1, as CoNLL-U does; ``head`` 0 is the root.
- ``split`` is one of ``train``, ``val``, ``test`` (SST's ``dev.txt`` becomes ``val``;
  Karpathy's ``restval`` becomes ``train`` unless the config keeps it apart).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow as pa

from collections.abc import Iterable, Mapping, Sequence


def _f(name: str, type_: pa.DataType, doc: str, nullable: bool = False, optional: bool = False) -> pa.Field:
    """A documented column; an ``optional`` one may be absent from a file (the JSON Schema does
    not require it)."""
    metadata = {"doc": doc, **({"optional": "true"} if optional else {})}
    return pa.field(name, type_, nullable=nullable, metadata=metadata)


SENTENCES = pa.schema(
    [
        _f("corpus", pa.string(), "coco, sst or wmt"),
        _f("split", pa.string(), "train, val or test"),
        _f("sentence_id", pa.int64(), "unique within the corpus"),
        _f("image_id", pa.int64(), "MSCOCO image id (cocoid); null for SST and WMT", nullable=True),
        _f("label", pa.int8(), "SST sentence sentiment 0-4; null for MSCOCO and WMT", nullable=True),
        _f("text", pa.string(), "the sentence as published (Karpathy's raw, SST's leaves joined with the treebank's bracket escapes such as -LRB- undone, the WMT line)"),
        _f("tokens", pa.list_(pa.string()), "tokens as the models see them, before lower-casing"),
    ]
)

VOCAB = pa.schema(
    [
        _f("token_id", pa.int32(), "index used by the models; specials first"),
        _f("token", pa.string(), "lower-cased word type, or a special symbol such as <unk>"),
        _f("count", pa.int64(), "occurrences in the train split (0 for specials)"),
    ]
)

LABELS = pa.schema(
    [
        _f("label_id", pa.int32(), "the class id the models use (sentences.label)"),
        _f("label", pa.string(), "the label as the data gives it; string labels are numbered in sorted order, "
                                 "integer labels keep their value as their id"),
        _f("train", pa.int64(), "train sentences with this label"),
        _f("val", pa.int64(), "val sentences with this label"),
        _f("test", pa.int64(), "test sentences with this label"),
    ]
)

SST_LABELS = 5  # the treebank's sentiment labels, 0 (very negative) to 4 (very positive)

SST_PHRASES = pa.schema(
    [
        _f("split", pa.string(), "train, val or test"),
        _f("sentence_id", pa.int64(), "joins sentences.sentence_id"),
        _f("phrase_id", pa.int32(), "node number within the tree, in pre-order; 0 is the whole sentence"),
        _f("parent_id", pa.int32(), "phrase_id of the parent node; null for the root", nullable=True),
        _f("start", pa.int32(), "first token of the span, counted from 0"),
        _f("end", pa.int32(), "one past the last token of the span"),
        _f("label", pa.int8(), "sentiment 0 (very negative) to 4 (very positive)"),
        _f("is_sentence", pa.bool_(), "true for the root node, the sentence-level example"),
        _f("text", pa.string(), "the span's tokens joined by spaces, -LRB- and the like shown as the brackets they stand for"),
    ]
)

TOKENS = pa.schema(
    [
        _f("sentence_id", pa.int64(), "joins sentences.sentence_id"),
        _f("position", pa.int32(), "1-based token position; lines up 1:1 with sentences.tokens"),
        _f("form", pa.string(), "the token as given to the parser"),
        _f("lemma", pa.string(), "lemma; null when the backend's lemmatizer is switched off", nullable=True),
        _f("xpos", pa.string(), "Penn Treebank tag"),
        _f("upos", pa.string(), "Universal POS tag"),
        _f("deprel", pa.string(), "label of the incoming arc (spaCy: ClearNLP/Stanford style; stanza: UD); root is 'root'"),
        _f("head", pa.int32(), "position of the head token; 0 for the root"),
    ]
)

PARSE_ACCURACY = pa.schema(
    [
        _f("corpus", pa.string(), "corpus whose gold trees were compared"),
        _f("split", pa.string(), "split compared"),
        _f("backend", pa.string(), "spacy or stanza"),
        _f("model", pa.string(), "parser model name"),
        _f("deprel", pa.string(), "gold label, or '(all)' for the overall row"),
        _f("n_tokens", pa.int64(), "gold tokens counted"),
        _f("uas", pa.float64(), "unlabelled attachment score"),
        _f("las", pa.float64(), "labelled attachment score"),
        _f("xpos_accuracy", pa.float64(), "Penn tag accuracy"),
        _f("upos_accuracy", pa.float64(), "UPOS accuracy"),
    ]
)


def training_metrics_schema(objectives: Sequence[str]) -> pa.Schema:
    """One row per epoch, with a train and a validation loss column per objective of the model
    (``Model.objectives()``: IMAGINET's ``textual`` and ``visual``, LM's ``textual`` alone)."""
    return pa.schema(
        [
            _f("model", pa.string(), "model name from the config"),
            _f("epoch", pa.int32(), "1-based epoch"),
            _f("train_loss", pa.float64(), "mean training loss over the epoch (the objectives' weighted sum)"),
            *[_f(f"train_loss_{p}", pa.float64(), f"mean training loss of the {p} objective; null in an epoch "
                 "whose sampled batches never trained it", nullable=True) for p in objectives],
            _f("val_loss", pa.float64(), "validation loss, same weighting as train_loss"),
            *[_f(f"val_loss_{p}", pa.float64(), f"validation loss of the {p} objective", nullable=True)
              for p in objectives],
            _f("val_accuracy", pa.float64(), "share of validation examples whose class readouts predict their label "
               "(mean over the class objectives); null for a model without class readouts", nullable=True),
            _f("tokens_per_second", pa.float64(), "training throughput over the epoch (input tokens incl. <eos>)"),
            _f("seconds", pa.float64(), "wall-clock seconds of the epoch's training pass"),
            _f("is_best", pa.bool_(), "true for the epoch whose weights were kept (lowest val_loss, or highest "
               "val_accuracy for a model that stops on accuracy)"),
        ]
    )


def metrics_objectives(columns: Iterable[str]) -> tuple[str, ...]:
    """The objectives a training metrics table has loss columns for, in column order."""
    return tuple(c.removeprefix("train_loss_") for c in columns if c.startswith("train_loss_"))


# IMAGINET's metrics table, the documented example (workflow/schemas/tables/).
TRAINING_METRICS = training_metrics_schema(("textual", "visual"))

EVALUATION = pa.schema(
    [
        _f("model", pa.string(), "model name"),
        _f("pathway", pa.string(), "the network evaluated (lingscope.core.catalog)"),
        _f("split", pa.string(), "split evaluated (val; test too for the sentiment models)"),
        _f("metric", pa.string(), "recall@1, recall@5, recall@10, median_rank, chance_recall@1, chance_recall@5, chance_recall@10 (visual); perplexity, cross_entropy (textual); accuracy_fine, accuracy_coarse, majority_fine, majority_coarse (sentiment); perplexity, cross_entropy, token_accuracy, exact_match (autoencoder)"),
        _f("value", pa.float64(), "the metric's value; recalls and accuracies are fractions of sentences (token_accuracy: of tokens)"),
        _f("n", pa.int64(), "captions (visual), predicted tokens (textual; autoencoder but exact_match), or sentences (sentiment; coarse: the non-neutral ones; exact_match) evaluated"),
    ]
)

PREDICTIONS = pa.schema(
    [
        _f("model", pa.string(), "model name"),
        _f("pathway", pa.string(), "the network (lingscope.core.catalog)"),
        _f("readout", pa.string(), "the class readout (sentiment)"),
        _f("split", pa.string(), "val or test"),
        _f("sentence_id", pa.int64(), "joins sentences.sentence_id"),
        _f("label", pa.int8(), "the sentence's gold label id (SST: 0-4; a labelled corpus: its labels table)"),
        _f("predicted", pa.int8(), "the label of the highest score"),
        _f("coarse_label", pa.int8(), "SST only: gold polarity, 0 negative (labels 0-1), 1 positive "
           "(3-4); null for neutral (2), and on every other corpus", nullable=True),
        _f("coarse_predicted", pa.int8(), "SST only: predicted polarity, 1 when p(3) + p(4) > p(0) + p(1) under the "
           "softmax; null on every other corpus", nullable=True),
        _f("scores", pa.list_(pa.float32()), "the readout's unnormalised score of every label"),
    ]
)

RECONSTRUCTIONS = pa.schema(
    [
        _f("model", pa.string(), "model name"),
        _f("pathway", pa.string(), "the network (lingscope.core.catalog)"),
        _f("readout", pa.string(), "the sequence readout (reconstruction)"),
        _f("split", pa.string(), "val or test"),
        _f("sentence_id", pa.int64(), "joins sentences.sentence_id"),
        _f("n_tokens", pa.int32(), "tokens to reproduce: the words and <eos>"),
        _f("log_likelihood", pa.float64(), "sum over the tokens of log p(token) under teacher forcing (nats)"),
        _f("correct", pa.int32(), "tokens greedy decoding reproduces at their own position (the decoder reads its own "
           "outputs)"),
        _f("exact", pa.bool_(), "greedy decoding reproduces every token, <eos> included"),
        _f("decoded", pa.string(), "the greedy output's first n_tokens tokens, up to its first <eos>, space-joined"),
    ]
)

ATTRIBUTION = pa.schema(
    [
        _f("sentence_id", pa.int64(), "joins sentences.sentence_id (and omission on sentence_id, position)"),
        _f("position", pa.int32(), "1-based word position"),
        _f("token", pa.string(), "the word as the sentences table has it"),
        _f("model", pa.string(), "model name from the config"),
        _f("pathway", pa.string(), "the model's network (lingscope.core.catalog)"),
        _f("readout", pa.string(), "the readout whose score S is attributed (its kind defines S: the predicted "
           "class's score, the predicted vector's length along its direction, or a log-likelihood)"),
        _f("split", pa.string(), "the split the sentence comes from"),
        _f("saliency_norm", pa.float64(), "L2 norm over embedding dimensions of dS/de at the word (Captum Saliency)"),
        _f("gxi_norm", pa.float64(), "L2 norm over dimensions of gradient x input, e * dS/de (Captum InputXGradient)"),
        _f("gxi_total", pa.float64(), "signed total over dimensions of gradient x input"),
        _f("ig_norm", pa.float64(), "L2 norm over dimensions of integrated gradients from the zero embedding "
           "(Captum IntegratedGradients)"),
        _f("ig_total", pa.float64(), "signed total over dimensions of integrated gradients"),
        _f("variance_norm", pa.float64(), "L2 norm over dimensions of variance salience (e - mean of the "
           "sentence's word embeddings)^2 (Li et al. 2016, sec. 6), as the saliency table's variance_norm; "
           "needs no score"),
        _f("score", pa.float64(), "the sentence's score S(e) (repeated on its words)"),
        _f("baseline_score", pa.float64(), "S of the all-zero embedding baseline (repeated on its words)"),
        _f("completeness_gap", pa.float64(), "integrated gradients over every position of the sentence minus "
           "(S(e) - S(baseline)): what the integral rule leaves of completeness (repeated on its words)"),
    ]
)

STEP_SALIENCY = pa.schema(
    [
        _f("model", pa.string(), "model name from the config"),
        _f("pathway", pa.string(), "the model's network (lingscope.core.catalog)"),
        _f("split", pa.string(), "the split the sentence comes from"),
        _f("sentence_id", pa.int64(), "joins sentences.sentence_id"),
        _f("chosen", pa.bool_(), "one of the sentences of the figure (step_saliency.figure)"),
        _f("step", pa.int32(), "decoding step t, from 1; step t reproduces the sentence's t-th token (the last step "
           "its <eos>)"),
        _f("target", pa.string(), "y_t: the token step t reproduces"),
        _f("side", pa.string(), "source: a token the encoder read; decoded: a token the decoder read before step t "
           "(<eos> at decoded position 0 is its start symbol)"),
        _f("position", pa.int32(), "the token's position in the sentence, from 1 (the words, then <eos>); decoded: "
           "0 is the start symbol, p the sentence's p-th token"),
        _f("token", pa.string(), "the token at that position"),
        _f("saliency", pa.float32(), "mean over embedding dimensions of |d log p(y_t) / d e| (teacher forcing; Li et "
           "al. 2016, Fig. 9)"),
    ]
)

SALIENCY = pa.schema(
    [
        _f("sentence_id", pa.int64(), "joins sentences.sentence_id (the example's number in the examples table)"),
        _f("position", pa.int32(), "1-based word position"),
        _f("token", pa.string(), "the word as the sentences table has it"),
        _f("model", pa.string(), "model name from the config"),
        _f("pathway", pa.string(), "the model's network (lingscope.core.catalog)"),
        _f("predicted", pa.int8(), "the class c whose score S_c is differentiated: the network's prediction"),
        _f("saliency_norm", pa.float64(), "L2 norm over dimensions of the saliency vector"),
        _f("variance_norm", pa.float64(), "L2 norm over dimensions of the variance salience vector"),
        _f("saliency", pa.list_(pa.float32()), "|dS_c/de_tj| for every embedding dimension j, per position "
           "(not summed over repeated word types; Li et al. 2016, sec. 5)"),
        _f("variance", pa.list_(pa.float32()), "(e_tj - mean_t' e_t'j)^2 over the sentence's words (Li et al. 2016, "
           "sec. 6)"),
    ]
)

INPUT_OPTIMISATION = pa.schema(
    [
        _f("model", pa.string(), "model name from the config"),
        _f("pathway", pa.string(), "the model's network (lingscope.core.catalog)"),
        _f("readout", pa.string(), "the readout the unit belongs to (image: the image-feature prediction; "
           "vocabulary: the next-word logits; sentiment: the class scores), or representation: the network's "
           "hidden units (its sentence representation's)"),
        _f("method", pa.string(), "crp (corpus search), emb, logit, smx or gbl (Poerner et al. 2018)"),
        _f("unit", pa.int32(), "the target unit: an index into the readout (or the representation)"),
        _f("target_word", pa.string(), "for a vocabulary readout, the word whose logit the unit is", nullable=True),
        _f("draw", pa.int16(), "the seeded draw the unit comes from (0, 1, ...; the draws are independent, so a "
           "unit can be in two); null for a named target", nullable=True),
        _f("named", pa.bool_(), "true: a named target of input_optimisation.targets; false: one of the drawn units"),
        _f("ngram", pa.string(), "the optimised input, its words joined by spaces"),
        _f("tokens", pa.list_(pa.string()), "the optimised input's words"),
        _f("activation", pa.float64(), "the unit's value after the n-gram, through the unmodified model"),
        _f("steps", pa.int64(), "optimisation steps taken (0 for crp)"),
        _f("stopped_epoch", pa.int32(), "the epoch the unit stopped at (0 for crp)"),
        _f("best_epoch", pa.int32(), "the epoch whose n-gram was kept (0 for crp)"),
        _f("cosine", pa.float64(), "emb only: mean cosine between the optimised vectors and their nearest words",
           nullable=True),
    ]
)

REPRESENTATIONS = pa.schema(
    [
        _f("model", pa.string(), "model name from the config"),
        _f("pathway", pa.string(), "the model's network (lingscope.core.catalog)"),
        _f("group", pa.string(), "the sentiment.examples group (intensification, negation, clause_positive, "
           "clause_negative, concessive) or random (a vocabulary word drawn for reference)"),
        _f("text", pa.string(), "the phrase as given"),
        _f("n_unknown", pa.int32(), "words of the phrase outside the vocabulary (read as <unk>)"),
        _f("predicted", pa.int8(), "the label the network's class readout predicts; null without one", nullable=True),
        _f("representation", pa.list_(pa.float32()), "the network's sentence representation of the phrase"),
    ]
)

STATES = pa.schema(
    [
        _f("model", pa.string(), "model name from the config"),
        _f("pathway", pa.string(), "the model's network (lingscope.core.catalog)"),
        _f("example", pa.int32(), "the sentence's number in sentiment.examples.concessive"),
        _f("text", pa.string(), "the sentence as given"),
        _f("position", pa.int32(), "1-based position"),
        _f("token", pa.string(), "the token read at this position"),
        _f("state", pa.list_(pa.float32()), "the network's state after reading the token"),
    ]
)

OMISSION = pa.schema(
    [
        _f("sentence_id", pa.int64(), "joins sentences.sentence_id"),
        _f("position", pa.int32(), "1-based position of the omitted word"),
        _f("token", pa.string(), "the omitted word as the sentences table has it (join the parse on sentence_id, position)"),
        _f("model", pa.string(), "model name from the config"),
        _f("pathway", pa.string(), "the model's network (lingscope.core.catalog)"),
        _f("omission", pa.float64(), "1 - cos(r(S), r(S without word i)), r the network's sentence representation "
                                     "(h_end for IMAGINET; Kadar et al. 2017, sec. 4.1)"),
    ]
)

RETRIEVAL_EXAMPLES = pa.schema(
    [
        _f("sentence_id", pa.int64(), "the example caption"),
        _f("variant", pa.string(), "full, or without (the caption minus its highest-omission word for VISUAL)"),
        _f("removed_position", pa.int32(), "position of the removed word; null for full", nullable=True),
        _f("removed_token", pa.string(), "the removed word; null for full", nullable=True),
        _f("caption", pa.string(), "the caption the model read (tokens joined by spaces)"),
        _f("image_id", pa.int64(), "the caption's own image"),
        _f("retrieved_image_id", pa.int64(), "top-1 image by cosine with VISUAL's prediction"),
        _f("retrieved_caption", pa.string(), "one caption of the retrieved image"),
        _f("rank_of_true_image", pa.int32(), "1-based rank of the caption's own image"),
        _f("cosine", pa.float64(), "cosine between the prediction and the retrieved image"),
    ]
)


# --- tables the analyses write: every figure has one behind it ------------------------------------

_NETWORK_DOC = "the network's display name: Sum, LM, Textual or Visual (lingscope.core.catalog)"

OMISSION_BY_LABEL = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("label_kind", pa.string(), "xpos (Penn tag) or deprel (incoming arc label)"),
        _f("label", pa.string(), "the tag or arc label"),
        _f("n", pa.int64(), "tokens with this label (only labels with at least --min-count tokens are kept)"),
        _f("mean", pa.float64(), "mean omission score"),
        _f("median", pa.float64(), "median omission score"),
        _f("q25", pa.float64(), "first quartile of the omission score (linear interpolation)"),
        _f("q75", pa.float64(), "third quartile of the omission score (linear interpolation)"),
    ]
)

OMISSION_LOG_RATIO = pa.schema(
    [
        _f("label_kind", pa.string(), "xpos (Penn tag) or deprel (incoming arc label)"),
        _f("label", pa.string(), "the tag or arc label"),
        _f("n", pa.int64(), "tokens with this label scored by both VISUAL and TEXTUAL (at least --min-count)"),
        _f("mean", pa.float64(), "mean of ln(omission_Visual / omission_Textual), both floored at epsilon; > 0 leans VISUAL"),
        _f("median", pa.float64(), "median of the log ratio"),
        _f("q25", pa.float64(), "first quartile of the log ratio"),
        _f("q75", pa.float64(), "third quartile of the log ratio"),
        _f("p_value", pa.float64(), "two-sided Wilcoxon signed-rank test of the log ratio against 0 (scipy)"),
        _f("p_adjusted", pa.float64(), "Benjamini-Hochberg adjusted p-value across the labels of this label_kind "
                                       "(statsmodels multipletests, fdr_bh)"),
        _f("significant", pa.bool_(), "p_adjusted below analysis.fdr: marked with * in Fig. 3"),
    ]
)

RIDGE_R2 = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("feature_set", pa.string(), "word, +deprel, +position or full (Kadar et al. 2017, sec. 5.3)"),
        _f("alpha", pa.float64(), "L2 penalty chosen by sentence-grouped cross-validation on the fit half"),
        _f("cv_r2", pa.float64(), "pooled out-of-fold R^2 on the fit half at the chosen alpha"),
        _f("r2", pa.float64(), "R^2 on the held-out half of the sentences, model refitted on the whole fit half"),
        _f("n_fit", pa.int64(), "tokens in the fit half"),
        _f("n_test", pa.int64(), "tokens in the held-out half"),
        _f("n_features", pa.int64(), "one-hot columns (categories seen in the fit half), intercept not counted"),
    ]
)

RIDGE_POSITIONS = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("position_bin", pa.string(), "first, second, third, middle, antepenult, penult or last"),
        _f("coefficient", pa.float64(), "main-effect coefficient of the bin in the FULL model (Fig. 6)"),
    ]
)

AGREEMENT = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("model", pa.string(), "model name from the config"),
        _f("pathway", pa.string(), "the model's network (lingscope.core.catalog)"),
        _f("method_a", pa.string(), "omission, saliency, gradient x input, integrated gradients or variance "
           "salience (their norms)"),
        _f("method_b", pa.string(), "the other method of the pair"),
        _f("words", pa.int64(), "words scored by both (the attribution sample joined with the omission table)"),
        _f("sentences", pa.int64(), "sentences with at least agreement.min_words words (the within-sentence measures)"),
        _f("spearman", pa.float64(), "token-level Spearman correlation of the two scores over all the words"),
        _f("spearman_low", pa.float64(), "lower end of its 95% interval (Fisher z, se 1.03/sqrt(n-3))"),
        _f("spearman_high", pa.float64(), "upper end of its 95% interval"),
        _f("within_sentence", pa.float64(), "mean over sentences of the Spearman correlation inside each sentence "
           "(sentences where either score is constant left out)"),
        _f("top_word", pa.float64(), "share of sentences whose highest-scoring word is the same by both methods (sentences with a tie for "
           "the top left out)"),
    ]
)

MATRIX = pa.schema(
    [
        _f("method", pa.string(), "the method (or the analysis of a method's output): a row of the matrix"),
        _f("network", pa.string(), _NETWORK_DOC),
        _f("model", pa.string(), "model name from the config"),
        _f("pathway", pa.string(), "the model's network (lingscope.core.catalog)"),
        _f("status", pa.string(), "ran (its files hold rows of the network), empty (planned, but they hold none) "
           "or blank (not run: see reason)"),
        _f("outputs", pa.list_(pa.string()), "the files that fill the cell (in the CSV: space-separated)"),
        _f("rows", pa.int64(), "the network's rows in those files (a shared table filtered to the network)",
           nullable=True),
        _f("shared", pa.bool_(), "the file is shared by every network of the row (the probe's Table 2, the MI "
           "table, the agreement table)"),
        _f("reason", pa.string(), "why a blank cell is blank (the catalog or the config)", nullable=True),
    ]
)

OMISSION_EXAMPLES = pa.schema(
    [
        _f("sentence_id", pa.int64(), "the example caption (joins retrieval_examples.sentence_id)"),
        _f("position", pa.int32(), "1-based word position"),
        _f("token", pa.string(), "the word"),
        _f("omission_visual", pa.float64(), "omission score of IMAGINET's VISUAL pathway"),
        _f("omission_textual", pa.float64(), "omission score of IMAGINET's TEXTUAL pathway"),
    ]
)

def training_curves_schema(objectives: Sequence[str]) -> pa.Schema:
    """The learning curves of several models: a loss column per objective any of them has."""
    return pa.schema(
        [
            _f("model", pa.string(), "model name from the config"),
            _f("epoch", pa.int32(), "1-based epoch"),
            _f("split", pa.string(), "train or val"),
            _f("loss", pa.float64(), "the training objective (the objectives' weighted sum), mean over the epoch"),
            *[_f(f"loss_{p}", pa.float64(), f"loss of the {p} objective (IMAGINET: textual = next-word cross-entropy "
                 "in nats, visual = cosine distance to the image); null for a model without it", nullable=True)
              for p in objectives],
            _f("is_best", pa.bool_(), "true for the epoch whose weights were kept"),
        ]
    )


TRAINING_CURVES = training_curves_schema(("textual", "visual"))

EVALUATION_RESULTS = pa.schema(
    [
        _f("model", pa.string(), "model name"),
        _f("pathway", pa.string(), "the network evaluated"),
        _f("network", pa.string(), "the paper's name for the model and pathway; null if it is none of the four", nullable=True),
        _f("split", pa.string(), "split evaluated"),
        _f("metric", pa.string(), "metric name as in the evaluation table"),
        _f("value", pa.float64(), "the metric's value"),
        _f("n", pa.int64(), "captions or tokens evaluated"),
        _f("best_epoch", pa.int32(), "epoch whose weights were evaluated; null without training metrics", nullable=True),
    ]
)


SENTIMENT_ACCURACY = pa.schema(
    [
        _f("model", pa.string(), "model name"),
        _f("pathway", pa.string(), "the network"),
        _f("network", pa.string(), "how figures label it (RNN, LSTM, BiLSTM for the catalog's entries)"),
        _f("split", pa.string(), "val (the SST's dev) or test"),
        _f("granularity", pa.string(), "on the SST: fine (5 labels) or coarse (negative 0-1 vs positive 3-4, neutral "
           "left out); on any other labelled corpus: labels (its own labels)"),
        _f("n", pa.int64(), "sentences scored"),
        _f("correct", pa.int64(), "sentences predicted right"),
        _f("accuracy", pa.float64(), "correct / n"),
        _f("ci_low", pa.float64(), "95% Wilson score interval, lower bound (statsmodels proportion_confint)"),
        _f("ci_high", pa.float64(), "95% Wilson score interval, upper bound"),
        _f("majority", pa.float64(), "accuracy of predicting the train sentences' most frequent label (fine, labels) "
           "or polarity (coarse)", nullable=True),
        _f("published_test", pa.float64(), "Li et al. (2016)'s test accuracy for the network of this name, on the "
           "SST's granularities only; null elsewhere", nullable=True),
        _f("data", pa.string(), "the corpus the model was trained and tested on, as the config declares it (the "
           "synthetic treebank is not the real SST, so its accuracies are not comparable with the published ones)"),
    ]
)

MCNEMAR = pa.schema(
    [
        _f("split", pa.string(), "val or test"),
        _f("granularity", pa.string(), "fine or coarse"),
        _f("model_a", pa.string(), "first model"),
        _f("pathway_a", pa.string(), "its network"),
        _f("network_a", pa.string(), "its label"),
        _f("model_b", pa.string(), "second model"),
        _f("pathway_b", pa.string(), "its network"),
        _f("network_b", pa.string(), "its label"),
        _f("n", pa.int64(), "sentences both predicted"),
        _f("both_correct", pa.int64(), "sentences both got right"),
        _f("a_only", pa.int64(), "sentences only a got right"),
        _f("b_only", pa.int64(), "sentences only b got right"),
        _f("neither", pa.int64(), "sentences both got wrong"),
        _f("statistic", pa.float64(), "min(a_only, b_only), the exact test's statistic"),
        _f("p_value", pa.float64(), "two-sided exact McNemar p-value (binomial on the discordant pairs; statsmodels)"),
    ]
)

LI_HEATMAP = pa.schema(
    [
        _f("figure", pa.string(), "fig1 (final representations) or fig3 (states over time)"),
        _f("model", pa.string(), "model name"),
        _f("pathway", pa.string(), "the network"),
        _f("network", pa.string(), "its label"),
        _f("row", pa.string(), "fig1: the phrase group (intensification, negation); fig3: a, b (the two "
           "sentences) or |a-b| (their absolute difference)"),
        _f("text", pa.string(), "the phrase or sentence"),
        _f("position", pa.int32(), "fig3: 1-based time step; fig1: 0"),
        _f("token", pa.string(), "fig3: the token read at that step (a/b; 'a|b' for the difference); fig1: null",
           nullable=True),
        _f("dim", pa.int32(), "dimension of the representation or state, from 0"),
        _f("value", pa.float64(), "its value"),
    ]
)

LI_TSNE = pa.schema(
    [
        _f("figure", pa.string(), "fig2 (negation and intensification) or fig4 (clause composition)"),
        _f("model", pa.string(), "model name"),
        _f("pathway", pa.string(), "the network"),
        _f("network", pa.string(), "its label"),
        _f("group", pa.string(), "the sentiment.examples group, or random"),
        _f("text", pa.string(), "the phrase"),
        _f("predicted", pa.int8(), "the network's predicted label", nullable=True),
        _f("x", pa.float64(), "t-SNE coordinate 1"),
        _f("y", pa.float64(), "t-SNE coordinate 2"),
        _f("perplexity", pa.float64(), "the perplexity used (sentiment.tsne.perplexity, capped below the points)"),
        _f("seed", pa.int64(), "random_state"),
        _f("settings", pa.string(), "every TSNE parameter as scikit-learn reports it, with its version (JSON)"),
    ]
)

IO_SUMMARY = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("readout", pa.string(), "the readout whose units were optimised, or representation (hidden units)"),
        _f("method", pa.string(), "crp, emb, logit, smx or gbl"),
        _f("units", pa.int64(), "drawn units (the named targets are left out of every statistic)"),
        _f("median", pa.float64(), "median activation of the units' optima"),
        _f("q1", pa.float64(), "first quartile"),
        _f("q3", pa.float64(), "third quartile"),
        _f("beats_crp", pa.float64(), "share of units whose optimum is above crp's (null for crp)", nullable=True),
        _f("function_word_share", pa.float64(), "share of the optima's tokens whose most frequent universal POS tag "
           "in the parsed analysis split is a closed class (ADP, AUX, CCONJ, DET, NUM, PART, PRON, SCONJ)",
           nullable=True),
        _f("mean_cosine", pa.float64(), "emb: mean cosine between the optimum and its nearest words (the paper: "
           "0.24); null for the other methods", nullable=True),
        _f("mean_steps", pa.float64(), "mean optimisation steps per unit (0 for crp)"),
    ]
)

IO_TABLE1 = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("readout", pa.string(), "the unit's readout"),
        _f("unit", pa.int32(), "index into the readout"),
        _f("draw", pa.int16(), "the draw the unit comes from; null for a named target", nullable=True),
        _f("target_word", pa.string(), "the word whose logit the unit is (vocabulary readouts)", nullable=True),
        _f("named", pa.bool_(), "a named target of input_optimisation.targets"),
        _f("crp", pa.string(), "the best 5-gram of the corpus"),
        _f("crp_activation", pa.float64(), "its activation"),
        _f("gbl", pa.string(), "the Gumbel-softmax optimum"),
        _f("gbl_activation", pa.float64(), "its activation"),
    ]
)

# --- Kadar et al. 2017: the unit-level analyses (sec. 5.4-5.6) ------------------------------------

_UNIT_DOC = "index of the unit: a dimension of the network's per-token state, from 0"
_LAYER_DOC = ("the layer of the activation store read (layer=K, 0 the bottom; the settings' layer, -1 the top, "
              "resolved)")

TOP_CONTEXTS = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC + ", or model/pathway for a network the paper does not name"),
        _f("model", pa.string(), "model name from the config"),
        _f("pathway", pa.string(), "the model's network (lingscope.core.catalog)"),
        _f("layer", pa.int16(), _LAYER_DOC),
        _f("unit", pa.int32(), _UNIT_DOC),
        _f("rank", pa.int16(), "1 for the largest |activation| of the unit over the split's word tokens; ties keep "
                               "store order"),
        _f("activation", pa.float64(), "the unit's (signed) activation at the token"),
        _f("sentence_id", pa.int64(), "joins sentences.sentence_id"),
        _f("position", pa.int32(), "1-based position of the token"),
        _f("token", pa.string(), "the word the network read (vocabulary form or <unk>)"),
        _f("trigram", pa.string(), "w_{t-2} w_{t-1} w_t, left-padded with <s>"),
        _f("fivegram", pa.string(), "w_{t-4} .. w_t, left-padded with <s>"),
    ]
)

UNIT_TABLE1 = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("unit", pa.int32(), _UNIT_DOC),
        _f("rule", pa.string(), "why this unit is shown (units.figures.table_units: the fewest distinct words among "
                                "its top-K tokens), or 'listed' for units.figures.units"),
        _f("distinct_words", pa.int32(), "distinct words among the unit's top-K tokens"),
        _f("rank", pa.int16(), "rank among the unit's top-K tokens"),
        _f("activation", pa.float64(), "the activation"),
        _f("trigram", pa.string(), "the trigram ending at the token"),
        _f("fivegram", pa.string(), "the 5-gram ending at the token"),
    ]
)

ACTIVATION_TRACES = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("unit", pa.int32(), _UNIT_DOC),
        _f("rule", pa.string(), "how the unit was chosen (as in Table 1)"),
        _f("threshold", pa.float64(), "the unit's units.figures.percentile of its activation over all word tokens, "
           "the activation read in the direction of its top-K tokens (negated when their sum is negative)"),
        _f("sentence_id", pa.int64(), "the example caption: one with a token at or above the threshold"),
        _f("position", pa.int32(), "1-based position"),
        _f("token", pa.string(), "the word read"),
        _f("activation", pa.float64(), "the unit's activation after reading it"),
    ]
)

PROBE_F1 = pa.schema(
    [
        _f("corpus", pa.string(), "the corpus whose analysis split's parse gives the labels (the word and 4-gram "
           "rows are per corpus)"),
        _f("network", pa.string(), "the network whose states are features; null for word and 4-gram", nullable=True),
        _f("layer", pa.int16(), _LAYER_DOC + "; null for word and 4-gram", nullable=True),
        _f("feature_set", pa.string(), "word, 4-gram, state or state+4-gram (Kadar et al. 2017, Table 2)"),
        _f("task", pa.string(), "deprel, or control (each word type's random label, Hewitt and Liang 2019)"),
        _f("C", pa.float64(), "inverse L2 penalty chosen by sentence-grouped cross-validation on the training part "
                              "(the control task: its deprel probe's)"),
        _f("cv_accuracy", pa.float64(), "mean cross-validated accuracy at that C; NaN for the control task, "
                                        "fitted at the C its deprel probe chose (the same probe complexity)"),
        _f("f1_micro", pa.float64(), "micro-F1 (= accuracy) on the held-out sentences"),
        _f("selectivity", pa.float64(), "deprel rows of state probes: f1_micro - the control task's f1_micro",
           nullable=True),
        _f("published", pa.float64(), "the draft's micro-F1 for this feature set and network (never published, "
                                      "probably not held out; docs/kadar2017.md#probe)", nullable=True),
        _f("n_train", pa.int64(), "training tokens"),
        _f("n_test", pa.int64(), "held-out tokens"),
        _f("n_features", pa.int64(), "feature columns"),
        _f("n_classes", pa.int64(), "labels predicted"),
    ]
)

PROBE_UNITS = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("deprel", pa.string(), "the label"),
        _f("rank", pa.int16(), "1 for the largest |coefficient|"),
        _f("unit", pa.int32(), _UNIT_DOC),
        _f("coefficient", pa.float64(), "the unit's coefficient for the label in the state + 4-gram model "
                                        "(states standardised on the training part)"),
        _f("top_contexts", pa.string(), "the unit's top trigrams (Table 1's contexts), ' | ' between them"),
    ]
)

MI_UNITS = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("layer", pa.int16(), _LAYER_DOC),
        _f("context", pa.string(), "word or deprel"),
        _f("n", pa.int16(), "the context is the n-gram ending at the token, left-padded"),
        _f("unit", pa.int32(), _UNIT_DOC),
        _f("mi", pa.float64(), "plug-in mutual information in nats between the unit's bin and the context"),
    ]
)

MI_SUMMARY = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("context", pa.string(), "word or deprel"),
        _f("n", pa.int16(), "n-gram order"),
        _f("units", pa.int64(), "units"),
        _f("median", pa.float64(), "median MI over the units (nats)"),
        _f("published", pa.float64(), "the CL version's median for this network "
           "(docs/kadar2017.md#mutual-information)", nullable=True),
    ]
)

MI_RATIO = pa.schema(
    [
        _f("numerator", pa.string(), "the network on top (Textual; LM)"),
        _f("denominator", pa.string(), "the network below (Visual; Textual)"),
        _f("context", pa.string(), "word or deprel"),
        _f("n", pa.int16(), "n-gram order"),
        _f("log_ratio", pa.float64(), "ln(median MI numerator / median MI denominator)"),
        _f("ci_low", pa.float64(), "bootstrap percentile interval over units (each network resampled), lower"),
        _f("ci_high", pa.float64(), "upper bound"),
        _f("confidence", pa.float64(), "interval level"),
        _f("replicates", pa.int64(), "bootstrap replicates"),
        _f("published", pa.float64(), "the arXiv version's log ratio (Textual/Visual only)", nullable=True),
    ]
)

FIG5_WORDS = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("model", pa.string(), "the model compared with WORD: +deprel (default) or full"),
        _f("word", pa.string(), "the word type"),
        _f("n_test", pa.int64(), "its tokens in the held-out half"),
        _f("mean_gain", pa.float64(), "mean over those tokens of |pred_WORD - y| - |pred_model - y|"),
        _f("rank", pa.int32(), "1 for the largest mean gain; the top ranks are Fig. 5's words"),
    ]
)

FIG5_BOXES = pa.schema(
    [
        _f("network", pa.string(), _NETWORK_DOC),
        _f("word", pa.string(), "one of Fig. 5's words"),
        _f("deprel", pa.string(), "a label with enough tokens among Fig. 5's words"),
        _f("n", pa.int64(), "tokens of the word with the label"),
        _f("median", pa.float64(), "median omission score"),
        _f("q25", pa.float64(), "first quartile"),
        _f("q75", pa.float64(), "third quartile"),
    ]
)


CHECKS = pa.schema(
    [
        _f("check", pa.string(), "unk_rate (a split's word tokens outside the vocabulary), labels (parse labels "
           "frequent enough for Figs. 2-3) or retrieval (recall@k against chance)"),
        _f("subject", pa.string(), "what was checked: corpus/split, label kind, or model/pathway/split"),
        _f("value", pa.float64(), "the measured number (a rate, a label count, the smallest one-sided binomial "
           "p-value over k); NaN where nothing could be measured (an empty split)"),
        _f("threshold", pa.float64(), "the bound it is checked against"),
        _f("setting", pa.string(), "the config key that sets the threshold"),
        _f("status", pa.string(), "ok or warning"),
        _f("message", pa.string(), "what was measured and which setting or data to change; printed at the end of a run"),
    ]
)


# The gate columns of the activation store (``activations.gates: true``): a network writes those
# its model names (``Model.gate_dims``), in its order, after ``activation``; a network without
# gates (the tanh RNN, SUM's running sum) writes none, so the columns are absent, not null.
# Each is the value at the step that read the token, concatenated forward then backward for the
# BiLSTM (as its states), the top layer's for a stacked LSTM (as its states).
GATE_COLUMNS = {
    "gate_r": "GRU reset gate r = sigmoid(W_ir x + b_ir + W_hr h_prev + b_hr)",
    "gate_z": "GRU update gate z (the state h = (1 - z) * n + z * h_prev)",
    "gate_n": "GRU candidate n = tanh(W_in x + b_in + r * (W_hn h_prev + b_hn)) (the authors' GRU: a ReLU clipped at 5)",
    "gate_i": "LSTM input gate i",
    "gate_f": "LSTM forget gate f",
    "gate_g": "LSTM candidate g = tanh(W_ig x + b_ig + W_hg h_prev + b_hg) (c = f * c_prev + i * g)",
    "gate_o": "LSTM output gate o (the state h = o * tanh(c))",
    "cell_c": "LSTM cell state c",
}


def activations_schema(dim: int, dtype: str = "float32", gates: Mapping[str, int] | None = None) -> pa.Schema:
    """Per-token hidden states of one layer; files live under
    ``activations/tokens/model=M/pathway=P/layer=K/`` (hive-partitioned by layer: K = 0 the bottom
    .. layers - 1 the top; a one-layer network has ``layer=0`` only). ``layer`` is a partition key,
    not a column of the files: a hive-partitioned read of the pathway folder adds it.

    ``gates`` (``{column: size}``, names from :data:`GATE_COLUMNS`) adds the network's gate
    columns, which only a dump with ``activations.gates: true`` of a network with gates has, and
    only in the top layer's partition (the gates are the top layer's)."""
    value = pa.float16() if dtype == "float16" else pa.float32()
    gates = dict(gates or {})
    unknown = sorted(set(gates) - set(GATE_COLUMNS))
    if unknown:
        raise ValueError(f"gate columns {unknown} are not in GATE_COLUMNS {list(GATE_COLUMNS)}")
    return pa.schema(
        [
            _f("sentence_id", pa.int64(), "joins sentences.sentence_id"),
            _f("position", pa.int32(), "1-based position; the last position of each sentence is <eos>"),
            _f("token", pa.string(), "the token read (lower-cased vocabulary form, <unk> or <eos>)"),
            _f("activation", pa.list_(value, dim), f"hidden state after reading the token, {dtype}, fixed length ({dim} here)"),
            *[_f(name, pa.list_(value, size), f"{GATE_COLUMNS[name]}, at the step that read the token, {dtype}, "
                 f"fixed length ({size} here); only with activations.gates, only for a network with this gate",
                 optional=True) for name, size in gates.items()],
        ]
    )


def h_end_schema(dim: int, dtype: str = "float32") -> pa.Schema:
    """Sentence representations (the state at <eos> for IMAGINET's networks); files live under
    ``activations/h_end/model=M/pathway=P/``."""
    value = pa.float16() if dtype == "float16" else pa.float32()
    return pa.schema(
        [
            _f("sentence_id", pa.int64(), "joins sentences.sentence_id"),
            _f("n_tokens", pa.int32(), "words in the sentence, <eos> excluded"),
            _f("activation", pa.list_(value, dim), f"the network's sentence representation (h_end), {dtype}, fixed length ({dim} here)"),
        ]
    )


def image_features_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            _f("image_id", pa.int64(), "MSCOCO image id (cocoid)"),
            _f("split", pa.string(), "train, val or test"),
            _f("filename", pa.string(), "image file name as published", nullable=True),
            _f("features", pa.list_(pa.float32(), dim), f"image feature vector, float32, fixed length ({dim} here)"),
        ]
    )


TABLES: dict[str, pa.Schema] = {
    "sentences": SENTENCES,
    "vocab": VOCAB,
    "labels": LABELS,
    "sst_phrases": SST_PHRASES,
    "tokens": TOKENS,
    "parse_accuracy": PARSE_ACCURACY,
    "image_features": image_features_schema(128),
    "training_metrics": TRAINING_METRICS,
    "evaluation": EVALUATION,
    "omission": OMISSION,
    "retrieval_examples": RETRIEVAL_EXAMPLES,
    "activations": activations_schema(256, gates=dict.fromkeys(GATE_COLUMNS, 256)),
    "h_end": h_end_schema(256),
    "omission_by_label": OMISSION_BY_LABEL,
    "omission_log_ratio": OMISSION_LOG_RATIO,
    "ridge_r2": RIDGE_R2,
    "ridge_positions": RIDGE_POSITIONS,
    "omission_examples": OMISSION_EXAMPLES,
    "training_curves": TRAINING_CURVES,
    "evaluation_results": EVALUATION_RESULTS,
    "checks": CHECKS,
    "predictions": PREDICTIONS,
    "saliency": SALIENCY,
    "reconstructions": RECONSTRUCTIONS,
    "step_saliency": STEP_SALIENCY,
    "attribution": ATTRIBUTION,
    "agreement": AGREEMENT,
    "matrix": MATRIX,
    "input_optimisation": INPUT_OPTIMISATION,
    "io_summary": IO_SUMMARY,
    "io_table1": IO_TABLE1,
    "representations": REPRESENTATIONS,
    "states": STATES,
    "sentiment_accuracy": SENTIMENT_ACCURACY,
    "mcnemar": MCNEMAR,
    "li_heatmap": LI_HEATMAP,
    "li_tsne": LI_TSNE,
    "top_contexts": TOP_CONTEXTS,
    "unit_table1": UNIT_TABLE1,
    "activation_traces": ACTIVATION_TRACES,
    "probe_f1": PROBE_F1,
    "probe_units": PROBE_UNITS,
    "mi_units": MI_UNITS,
    "mi_summary": MI_SUMMARY,
    "mi_ratio": MI_RATIO,
    "fig5_words": FIG5_WORDS,
    "fig5_boxes": FIG5_BOXES,
}


def _json_type(t: pa.DataType) -> dict:
    if pa.types.is_fixed_size_list(t):
        return {"type": "array", "items": _json_type(t.value_type), "arrow": f"fixed_size_list<{t.value_type}>[dim]"}
    if pa.types.is_list(t):
        return {"type": "array", "items": _json_type(t.value_type), "arrow": str(t)}
    if pa.types.is_integer(t):
        return {"type": "integer", "arrow": str(t)}
    if pa.types.is_floating(t):
        return {"type": "number", "arrow": str(t)}
    if pa.types.is_boolean(t):
        return {"type": "boolean", "arrow": "bool"}
    return {"type": "string", "arrow": str(t)}


def to_json_schema(name: str, schema: pa.Schema) -> dict:
    """One row of the table as a JSON Schema document, with the Arrow type of each column."""
    props = {}
    for field in schema:
        prop = _json_type(field.type)
        if field.nullable:
            prop["type"] = [prop["type"], "null"]
        prop["description"] = field.metadata[b"doc"].decode()
        props[field.name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": name,
        "description": f"One row of the {name} Parquet table (generated by lingscope.schemas).",
        "type": "object",
        "properties": props,
        "required": [f.name for f in schema if f.metadata.get(b"optional") != b"true"],
        "additionalProperties": False,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for the <table>.schema.json files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, schema in TABLES.items():
        text = json.dumps(to_json_schema(name, schema), indent=2) + "\n"
        (args.out / f"{name}.schema.json").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
