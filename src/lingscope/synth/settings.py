"""The embedded corpora's options (``corpora.<corpus>.synthetic`` in the config).

Torch-free: the workflow reads them when it plans the DAG (lingscope.core.settings).
"""

from __future__ import annotations

import dataclasses

from lingscope.core.settings import Settings, option

@dataclasses.dataclass(frozen=True)
class SyntheticSizes(Settings):
    """Seed and split sizes of an embedded corpus (``corpora.<corpus>.synthetic``)."""

    seed: int = option(0, "seed of the generator", minimum=0)
    n_train: int = option(1, "train size", minimum=1)
    n_val: int = option(1, "validation size", minimum=1)
    n_test: int = option(1, "test size", minimum=1)

@dataclasses.dataclass(frozen=True)
class CocoSynthetic(SyntheticSizes):
    """The embedded MSCOCO (``corpora.coco.synthetic``; sizes in images). The planted weights of
    ``weights`` are passed as ``--weight CATEGORY=W`` flags."""

    restval_fraction: float = option(0.1, "share of train images labelled restval", minimum=0.0, maximum=1.0)
    captions_per_image: int = option(5, "captions per image", minimum=1)
    feature_dim: int = option(128, "feature dimension (the paper's VGG layer: 4096)", minimum=1)
    noise: float = option(0.3, "norm of the Gaussian noise added to each image", minimum=0.0)


@dataclasses.dataclass(frozen=True)
class PlantedWeights(Settings):
    """The planted visual weight of each concept category in an image's feature vector
    (``corpora.coco.synthetic.weights``); function words always weigh 0. The generator takes
    them as ``--weight CATEGORY=W`` flags."""

    object: float = option(1.0, "objects and agents (nouns)")
    place: float = option(0.7, "places")
    modifier: float = option(0.5, "compound modifiers that change the object ('a water fountain')")
    attribute: float = option(0.35, "attributes (adjectives)")
    count: float = option(0.35, "how many of an object there are (number words)")
    action: float = option(0.15, "actions (verbs)")


PLANTED_WEIGHTS: dict[str, float] = PlantedWeights().as_dict()
