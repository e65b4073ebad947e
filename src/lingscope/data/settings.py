"""The vocabulary's options (``vocab.<corpus>`` in the config).

Torch-free: the workflow reads them when it plans the DAG (lingscope.core.settings).
"""

from __future__ import annotations

import dataclasses

from lingscope.core.errors import InputError
from lingscope.core.settings import Settings, option


@dataclasses.dataclass(frozen=True)
class VocabSettings(Settings):
    """One corpus's vocabulary (``vocab.<corpus>`` in the config)."""

    min_count: int = option(1, "keep types seen at least this often in train", minimum=1)
    max_size: int = option(0, "cap on the vocabulary size, specials included (0: no cap)", minimum=0)

    def check(self, label) -> None:
        if 0 < self.max_size < 3:
            raise InputError(None, label("max_size"), f"must be 0 or at least 3 (the specials), got {self.max_size}")
