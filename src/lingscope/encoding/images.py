"""Image feature vectors (IMAGE_FEATURES table) as the image objectives and evaluations read them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lingscope.core.errors import InputError
from lingscope.core.io import require_columns


@dataclass
class Images:
    image_ids: np.ndarray  # (m,) int64
    splits: np.ndarray  # (m,) str
    features: np.ndarray  # (m, d) float32

    def rows(self, image_ids: np.ndarray, path: str | Path) -> np.ndarray:
        """Row of each image id; an id without features is an input error."""
        order = np.argsort(self.image_ids)
        pos = np.searchsorted(self.image_ids, image_ids, sorter=order)
        pos = np.minimum(pos, len(order) - 1)
        rows = order[pos]
        bad = self.image_ids[rows] != image_ids
        if bad.any():
            raise InputError(path, f"image_id {int(image_ids[bad][0])}", "a sentence's image has no feature vector")
        return rows


def load_images(path: str | Path) -> Images:
    path = Path(path)
    require_columns(path, ["image_id", "split", "features"])
    table = pq.read_table(path, columns=["image_id", "split", "features"])
    column = table.column("features").combine_chunks()
    dim = column.type.list_size if pa.types.is_fixed_size_list(column.type) else None
    if dim is None:
        raise InputError(path, None, f"column 'features' must be a fixed-size list of float32, found {column.type}")
    features = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
    return Images(table.column("image_id").to_numpy(), np.asarray(table.column("split").to_pylist()), features)


def zscore_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation (train split), the paper's normalisation."""
    mean = features.mean(0, dtype=np.float64)
    std = features.std(0, dtype=np.float64)
    std[std < 1e-8] = 1.0  # a constant dimension carries no signal; leave it at zero
    return mean.astype(np.float32), std.astype(np.float32)


def split_zscored(images: Images, split: str, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids and z-scored vectors (with the train statistics ``mean``, ``std``) of one split's images."""
    keep = images.splits == split
    return images.image_ids[keep], (images.features[keep] - mean) / std
