"""The MSCOCO carve: which splits an official-format ingest writes, in one place.

Carving draws ``n_val`` and ``n_test`` images (seeded) out of the official val file into the
val and test splits; what is left of that file is restval, which joins train unless
``keep_restval``. Karpathy's split carved 5,000 + 5,000 images out of val2014 this way.

Both the workflow's plan (:mod:`lingscope.core.plan`, before any job runs) and the ingest
(:mod:`lingscope.data.coco`, on the real files) ask this module, so the two cannot disagree on
what a config yields. Torch- and numpy-free: the plan runs at DAG time.
"""

from __future__ import annotations

from collections.abc import Iterable

SPLITS = ("train", "val", "test")
KEY = "corpora.coco.official"


def carves(n_val: int, n_test: int) -> bool:
    """Whether the config carves anything out of the val file."""
    return bool(n_val or n_test)


def carved_splits(given: Iterable[str], n_val: int, n_test: int, keep_restval: bool) -> set[str]:
    """The splits an ingest of the caption files ``given`` (split names) writes."""
    splits = set(given)
    if carves(n_val, n_test):
        # Carving spreads every image of the val file over val, test and what is left.
        splits = (splits - {"val"}) | {s for s, n in (("val", n_val), ("test", n_test)) if n}
        if not keep_restval:
            splits.add("train")
    return splits


def carve_problem(given: Iterable[str], n_val: int, n_test: int) -> str | None:
    """Why the files ``given`` cannot be carved as asked, or None."""
    given = set(given)
    if carves(n_val, n_test) and "val" not in given:
        return f"{KEY}.carve takes images out of the val file, but {KEY}.captions gives no val"
    if n_test and "test" in given:
        return (f"{KEY}.captions gives a test file and {KEY}.carve.test carves test images out of val too; "
                "drop one of them")
    return None


def missing_training_split(given: Iterable[str], n_val: int, n_test: int, keep_restval: bool) -> str | None:
    """Why the splits the ingest writes cannot train (train and val are needed), or None."""
    given = set(given)
    have = carved_splits(given, n_val, n_test, keep_restval)
    missing = [s for s in ("train", "val") if s not in have]
    if not missing:
        return None
    if carves(n_val, n_test):
        reason = {
            "val": f"{KEY}.carve.val is 0, and carving spreads the whole val file over the carved splits and "
                   "the rest; carve some val images",
            "train": "corpora.coco.keep_restval is true, so what carving leaves of the val file is restval, "
                     "not train; set it to false or add a train file",
        }[missing[0]]
        return f"nothing gives the {missing[0]} split that training needs: {reason}"
    return (f"{KEY}.captions gives {', '.join(sorted(given))} and nothing gives {' or '.join(missing)}; "
            f"training needs train and val captions. Add a {missing[0]} file, or carve val and test images out of "
            f"the val file with {KEY}.carve (Karpathy's split: {{val: 5000, test: 5000}}): the rest of that file "
            f"is then the train split")
