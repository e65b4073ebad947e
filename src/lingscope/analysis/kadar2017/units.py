"""A network's per-token states, read from the activation store, for the unit-level analyses
of Kadar et al. (2017, sec. 5.4-5.6): top-K contexts, activation through time, the
grammatical-function probe and mutual information.

The store is ``activations/tokens/model=M/pathway=P/layer=K/part-k.parquet`` (schema
``activations_schema``): ``sentence_id, position, token, activation`` with the state as a
fixed-size list, one ``layer=K`` partition per stacked layer of the network (0 the bottom; a
one-layer network has ``layer=0`` only). Every reader here takes the network's folder
``.../model=M/pathway=P`` and a ``layer``, Python-style: -1 (the default) the top layer, -2 the one
below, 0 the bottom (:func:`layer_folder`). A folder of the older layout, part files directly in
the pathway folder, reads as its one layer 0. The analysed sequence is ``w_1 .. w_n``: the
``<eos>`` step, where a network reads one, is left out everywhere here
(docs/kadar2017.md#top-k-contexts).

- :func:`store_layers` and :func:`layer_folder` find the layers and resolve a layer to its folder;
- :func:`iter_states` streams the store in record batches (memory bounded by the batch);
- :func:`load_states` reads one network whole, sorted by sentence and position, optionally
  joined with the parse of the same split (the deprels and the word forms);
- :func:`ngram_codes` gives every token an integer code for the n-gram ending at it, left-padded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lingscope.analysis.networks import read_table
from lingscope.core.errors import InputError
from lingscope.core.schemas import TOKENS, TOP_CONTEXTS

EOS = "<eos>"  # the end symbol as the activation store writes it (lingscope.encoding.ids.EOS)
PAD = "<s>"  # what left-pads a context near the sentence start
META = ("sentence_id", "position", "token")


TOP = -1  # the layer the readers read unless told: the top one


def _part_files(folder: Path) -> list[Path]:
    files = [p for p in folder.glob("part-*.parquet") if re.fullmatch(r"part-\d+\.parquet", p.name)]
    return sorted(files, key=lambda p: int(p.stem.split("-")[1]))


def store_layers(folder: str | Path) -> dict[int, Path]:
    """``{K: folder}`` of the ``layer=K`` partitions of one network's store, by K (0 the bottom);
    the layers must run 0 .. L-1. A folder of the older layout (part files directly in it, no
    ``layer=`` partition) is ``{0: folder}``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, None, "no such activation folder; expected activations/tokens/model=M/pathway=P")
    layers = {}
    for sub in folder.iterdir():
        match = re.fullmatch(r"layer=(\d+)", sub.name)
        if match and sub.is_dir():
            layers[int(match.group(1))] = sub
    if not layers:
        if _part_files(folder):
            return {0: folder}
        raise InputError(folder, None, "holds no layer=K partition (nor part-k.parquet file); was the activations "
                                       "job finished?")
    if sorted(layers) != list(range(len(layers))):
        raise InputError(folder, None, f"its layer partitions are {sorted(layers)}; expected layer=0 .. "
                                       f"layer={len(layers) - 1}")
    return dict(sorted(layers.items()))


def resolve_layer(folder: str | Path, layer: int = TOP) -> int:
    """The index (0 the bottom) of ``layer`` in the store, which counts from the top when negative
    (-1 the top layer); a layer the store does not have is an error naming the folder, the layer
    asked for and the layers present."""
    layers = store_layers(folder)
    index = layer + len(layers) if layer < 0 else layer
    if index not in layers:
        raise InputError(Path(folder), f"layer {layer}", f"not in the store: its layers are {sorted(layers)} "
                                                         f"(0 the bottom, -1 the top)")
    return index


def layer_folder(folder: str | Path, layer: int = TOP) -> Path:
    """The folder of the part files of ``layer`` (see :func:`resolve_layer`)."""
    return store_layers(folder)[resolve_layer(folder, layer)]


def activation_files(folder: str | Path, layer: int = TOP) -> list[Path]:
    """The ``part-k.parquet`` files of one layer of one network's store, in k order; none is an error."""
    where = layer_folder(folder, layer)
    files = _part_files(where)
    if not files:
        raise InputError(where, None, "holds no part-k.parquet file; was the activations job finished?")
    return files


def network_of(folder: str | Path) -> tuple[str, str]:
    """(model, pathway) from the hive-partitioned folder name ``.../model=M/pathway=P``."""
    folder = Path(folder)
    if not (folder.name.startswith("pathway=") and folder.parent.name.startswith("model=")):
        raise InputError(folder, None, "expected a folder named .../model=M/pathway=P")
    return folder.parent.name.split("=", 1)[1], folder.name.split("=", 1)[1]


def open_parquet(path: Path) -> pq.ParquetFile:
    """A file for streaming reads. ``pre_buffer`` (pyarrow's default) coalesces the reads of
    the whole file up front: measured, a 1 GB part took peak RSS from 0.6 to 1.5 GB; without
    it, and with a bounded read buffer, memory stays at one batch."""
    return pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 22)


def state_dim(folder: str | Path, layer: int = TOP) -> int:
    """The length of the ``activation`` lists of ``layer`` (every part must agree)."""
    dims = set()
    for path in activation_files(folder, layer):
        try:
            schema = pq.read_schema(path)
        except Exception as err:  # noqa: BLE001 (pyarrow raises several types for a file that is not Parquet)
            raise InputError(path, None, f"not a readable Parquet file ({err})") from None
        missing = [c for c in (*META, "activation") if c not in schema.names]
        if missing:
            raise InputError(path, f"columns {missing}", "missing; expected sentence_id, position, token, activation")
        kind = schema.field("activation").type
        if not pa.types.is_fixed_size_list(kind):
            raise InputError(path, "column 'activation'", f"is {kind}; expected a fixed-size list of floats")
        dims.add(kind.list_size)
    if len(dims) != 1:
        raise InputError(layer_folder(folder, layer), "column 'activation'",
                         f"lists of different lengths {sorted(dims)} across parts")
    return dims.pop()


def iter_states(folder: str | Path, batch_rows: int = 65536, units: np.ndarray | None = None,
                layer: int = TOP) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Stream ``(meta, states)`` batches of ``layer``: ``meta`` the META columns, ``states``
    float32 ``(rows, dim)`` (or only the columns ``units``); ``<eos>`` rows are dropped, and a
    non-finite activation is an error naming the file and the token."""
    dim = state_dim(folder, layer)
    for path in activation_files(folder, layer):
        for batch in open_parquet(path).iter_batches(batch_size=batch_rows, columns=[*META, "activation"]):
            keep = pc.not_equal(batch.column("token"), EOS)
            batch = batch.filter(keep)
            if batch.num_rows == 0:
                continue
            values = batch.column("activation").flatten().to_numpy(zero_copy_only=False)
            states = values.reshape(batch.num_rows, dim)
            finite = np.isfinite(states).all(axis=1)
            if not finite.all():
                bad = int(np.flatnonzero(~finite)[0])
                raise InputError(path, f"sentence {batch['sentence_id'][bad]} position {batch['position'][bad]}",
                                 "has a non-finite activation")
            states = states[:, units] if units is not None else states
            yield pa.Table.from_batches([batch.select(list(META))]), np.ascontiguousarray(states, dtype=np.float32)


@dataclass
class TokenStates:
    """One network's word tokens, sorted by (sentence_id, position), with their states."""

    sentence_id: np.ndarray
    position: np.ndarray
    token: np.ndarray  # the word as the model read it (vocabulary form or <unk>), object array
    states: np.ndarray  # (tokens, dim) float32
    deprel: np.ndarray | None = None  # from the parse, when one was given
    form: np.ndarray | None = None  # the parse's word form, lower-cased

    def __len__(self) -> int:
        return len(self.sentence_id)


def corpus_of(tokens: Path) -> str:
    """The corpus a parse is of: the ``corpus=`` folder of the pipeline's layout
    (``parse/corpus=coco/split=val/tokens.parquet``), else the file's name."""
    for part in reversed(Path(tokens).parts):
        if part.startswith("corpus="):
            return part.removeprefix("corpus=")
    return Path(tokens).stem


def tokens_per_folder(folders: list[Path], tokens: list[Path]) -> list[Path]:
    """The parse of each activation folder's split: one parse for all, or one per folder."""
    if len(tokens) == 1:
        return list(tokens) * len(folders)
    if len(tokens) != len(folders):
        raise InputError(None, "--tokens", f"expected one parse, or one per activation folder ({len(folders)}); "
                                           f"got {len(tokens)}")
    return list(tokens)


def load_states(folder: str | Path, tokens: str | Path | None = None, layer: int = TOP) -> TokenStates:
    """Every word token of one network with its state at ``layer`` (-1 the top); with ``tokens``
    (the parse of the same split, ``TOKENS``) each gets its deprel and form, and a token missing
    from the parse, or a parse word that is not the word the model read, is an error naming both
    files."""
    metas, parts = [], []
    for meta, states in iter_states(folder, layer=layer):
        metas.append(meta)
        parts.append(states)
    if not metas:
        raise InputError(Path(folder), None, "holds no word tokens")
    meta = pl.from_arrow(pa.concat_tables(metas)).with_row_index("row")
    meta = meta.sort(["sentence_id", "position"])
    duplicated = meta.select("sentence_id", "position").is_duplicated()
    if duplicated.any():
        row = meta.filter(duplicated).row(0, named=True)
        raise InputError(Path(folder), f"sentence {row['sentence_id']} position {row['position']}", "appears twice")
    states = np.concatenate(parts)[meta["row"].to_numpy()]
    deprel = form = None
    if tokens is not None:
        parse = read_table(tokens, TOKENS, ["sentence_id", "position", "form", "deprel"])
        joined = meta.join(parse, on=["sentence_id", "position"], how="left", maintain_order="left")
        missing = joined.filter(pl.col("form").is_null())
        if not missing.is_empty():
            row = missing.row(0, named=True)
            raise InputError(Path(folder), f"sentence {row['sentence_id']} position {row['position']}",
                             f"has no token in the parse {tokens}; were both made from the same split?")
        lower = joined["form"].str.to_lowercase()
        # lingscope's vocabularies are lower-cased; a network trained elsewhere reads words as written
        bad = joined.filter((pl.col("token") != lower) & (pl.col("token") != pl.col("form"))
                            & (pl.col("token") != "<unk>"))
        if not bad.is_empty():
            row = bad.row(0, named=True)
            raise InputError(Path(folder), f"sentence {row['sentence_id']} position {row['position']}",
                             f"the model read {row['token']!r} but the parse {tokens} has {row['form']!r}")
        deprel, form = joined["deprel"].to_numpy(), lower.to_numpy()
    return TokenStates(meta["sentence_id"].to_numpy(), meta["position"].to_numpy(), meta["token"].to_numpy(),
                       states, deprel, form)


def codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(categories, code per value): the sorted distinct values and each value's index."""
    categories, inverse = np.unique(values, return_inverse=True)
    return categories, inverse.astype(np.int64)


def ngram_codes(sentence_id: np.ndarray, position: np.ndarray, unit_codes: np.ndarray, n: int) -> np.ndarray:
    """Per token, a code (0 .. distinct-1) of the n-gram of ``unit_codes`` ending at it.

    The tokens must be sorted by sentence and position with positions 1, 2, ... in every
    sentence; before a sentence's first token the n-gram is padded (a code of its own).
    The code is built one offset at a time and refactorised after each, so it never
    overflows however large the vocabulary and n."""
    sentence_id, position = np.asarray(sentence_id), np.asarray(position)
    code = np.asarray(unit_codes, dtype=np.int64)
    pad = int(code.max()) + 1 if len(code) else 0
    for k in range(1, n):
        previous = np.full(len(code), pad, dtype=np.int64)
        inside = position > k
        previous[inside] = np.asarray(unit_codes, dtype=np.int64)[np.flatnonzero(inside) - k]
        _, code = np.unique(code * (pad + 1) + previous, return_inverse=True)
        code = code.astype(np.int64)
    return code


def check_sorted(sentence_id: np.ndarray, position: np.ndarray, where: str) -> None:
    """Positions must run 1, 2, ... within each sentence, sentences contiguous."""
    if not len(position):
        return
    start = np.r_[True, sentence_id[1:] != sentence_id[:-1]]
    expected = np.arange(len(position)) - np.maximum.accumulate(np.where(start, np.arange(len(position)), 0)) + 1
    if not np.array_equal(position, expected):
        bad = int(np.flatnonzero(position != expected)[0])
        raise InputError(None, f"{where}: sentence {sentence_id[bad]} position {position[bad]}",
                         f"expected position {expected[bad]}: positions must run 1, 2, ... in every sentence")


def read_top_contexts(paths: list[Path], columns: list[str] | None = None) -> pl.DataFrame:
    """The TOP_CONTEXTS tables ``paths`` (``columns`` of them, all by default) as one frame;
    a network found in two of them is an error naming both."""
    columns = list(columns or TOP_CONTEXTS.names)
    frames, seen = [], {}
    for path in paths:
        frame = read_table(path, TOP_CONTEXTS, list(dict.fromkeys(["model", "pathway", *columns])))
        for model, pathway in frame.select("model", "pathway").unique(maintain_order=True).iter_rows():
            if (model, pathway) in seen:
                raise InputError(path, f"model {model!r} pathway {pathway!r}", f"was already read from "
                                 f"{seen[model, pathway]}")
            seen[model, pathway] = path
        frames.append(frame.select(columns))
    if not frames:
        return pl.from_arrow(TOP_CONTEXTS.empty_table()).select(columns)
    return pl.concat(frames)
