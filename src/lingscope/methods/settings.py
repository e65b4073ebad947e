"""The methods' options: one settings class per config section they read.

Torch-free: the workflow reads them when it plans the DAG (lingscope.core.settings).
"""

from __future__ import annotations

import dataclasses

from lingscope.core.settings import Settings, option

@dataclasses.dataclass(frozen=True)
class ActivationSettings(Settings):
    """Per-token state dumps (``activations`` in the config)."""

    split: str = option("val", "the analysis split", choices=("train", "val", "test"))
    dtype: str = option("float32", "value type of the stored states", choices=("float32", "float16"))
    chunk_sentences: int = option(2048, "sentences computed per chunk (bounds memory)", minimum=1)
    rows_per_file: int = option(1_000_000, "token rows per part file", minimum=1)
    row_group_rows: int = option(8192, "rows per Parquet row group", minimum=1)
    batch_rows: int = option(1024, "sentences per batch of a recurrent step (1024 keeps a step in cache)", minimum=1)

@dataclasses.dataclass(frozen=True)
class OmissionSettings(Settings):
    """Omission scores (``omission`` in the config)."""

    chunk_tokens: int = option(16384, "words read per chunk (bounds memory)", minimum=1)
    batch_rows: int = option(1024, "runs per recurrent step (1024 keeps a step's tensors in cache)", minimum=1)

@dataclasses.dataclass(frozen=True)
class ExampleSettings(Settings):
    """The example captions of Fig. 1 (``analysis.examples`` in the config)."""

    n: int = option(4, "example captions", minimum=1)
    seed: int = option(1, "seed of the sample", minimum=0)
