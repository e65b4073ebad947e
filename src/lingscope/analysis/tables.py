"""The tables the analysis layer writes, one schema each, every column documented.

Every figure has one of these tables behind it, so a reader can check a plot's numbers
and a report can quote them. The input tables are in :mod:`lingscope.schemas`.
"""

from __future__ import annotations

import pyarrow as pa


def _f(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


_NETWORK_DOC = "Sum, LM, Textual or Visual (lingscope.analysis.networks)"

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

OMISSION_EXAMPLES = pa.schema(
    [
        _f("sentence_id", pa.int64(), "the example caption (joins retrieval_examples.sentence_id)"),
        _f("position", pa.int32(), "1-based word position"),
        _f("token", pa.string(), "the word"),
        _f("omission_visual", pa.float64(), "omission score of IMAGINET's VISUAL pathway"),
        _f("omission_textual", pa.float64(), "omission score of IMAGINET's TEXTUAL pathway"),
    ]
)

TRAINING_CURVES = pa.schema(
    [
        _f("model", pa.string(), "model name from the config"),
        _f("epoch", pa.int32(), "1-based epoch"),
        _f("split", pa.string(), "train or val"),
        _f("loss", pa.float64(), "the training objective (alpha*L_T + (1-alpha)*L_V), mean over the epoch"),
        _f("loss_textual", pa.float64(), "next-word cross-entropy (nats); null without a textual pathway", nullable=True),
        _f("loss_visual", pa.float64(), "cosine distance to the image; null without a visual pathway", nullable=True),
        _f("is_best", pa.bool_(), "true for the epoch whose weights were kept"),
    ]
)

EVALUATION_RESULTS = pa.schema(
    [
        _f("model", pa.string(), "model name"),
        _f("pathway", pa.string(), "textual or visual"),
        _f("network", pa.string(), "the paper's name for the model and pathway; null if it is none of the four", nullable=True),
        _f("split", pa.string(), "split evaluated"),
        _f("metric", pa.string(), "metric name as in the evaluation table"),
        _f("value", pa.float64(), "the metric's value"),
        _f("n", pa.int64(), "captions or tokens evaluated"),
        _f("best_epoch", pa.int32(), "epoch whose weights were evaluated; null without training metrics", nullable=True),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "omission_by_label": OMISSION_BY_LABEL,
    "omission_log_ratio": OMISSION_LOG_RATIO,
    "ridge_r2": RIDGE_R2,
    "ridge_positions": RIDGE_POSITIONS,
    "omission_examples": OMISSION_EXAMPLES,
    "training_curves": TRAINING_CURVES,
    "evaluation_results": EVALUATION_RESULTS,
}
