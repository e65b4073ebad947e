"""Checkpoint I/O and where a job runs: saving a model with what rebuilds it, finding the family
that builds it (lingscope's, or a user's module), loading it onto the job's device.

A model file is a torch archive of ``{"architecture": dict, "state_dict": ..., **extras}``; the
architecture names the kind (and, for a family of the user's own, its module), whose family's
``build`` makes the empty model the weights load into.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lingscope.core import catalog
from lingscope.core.errors import InputError
from lingscope.core.io import atomic_path
from lingscope.models.base import Model


def pick_device(name: str) -> torch.device:
    """``auto`` takes CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def use_runtime(runtime) -> torch.device:
    """Apply a job's ``Runtime`` settings: torch's thread count, and the device it runs on."""
    torch.set_num_threads(runtime.threads)
    return pick_device(runtime.device)


def save_model(path, model: Model, extra: dict) -> None:
    """The trained weights plus everything needed to rebuild the model, written atomically.

    Written through an open file object: given a path, torch names the archive's records after
    the file (the atomic temporary name is random, so two runs of one config would differ in
    bytes); given a file object it names them ``archive``, and no copy of the weights is held in
    memory (a large pretrained network is written at its own size)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save({"architecture": dict(model.architecture), "state_dict": model.state_dict(), **extra}, handle)


@dataclass(frozen=True)
class Family:
    """The module implementing a kind, and its two makers: ``build(architecture)`` (a saved model's
    shape) and ``create(settings, vocab_size, readout_units)`` (a fresh one): module-level
    functions, or the classmethods of the module's ``MODEL`` class (a family of the user's own)."""

    module: object
    build: Callable
    create: Callable


def family(kind: str, module: str | None = None) -> Family:
    """The family of ``kind`` (its module from the catalog, or ``module``: a user's, outside the
    package); a module that cannot be imported, or that offers no way to build a model, is an
    :class:`InputError` naming it."""
    name = module or catalog.kind(kind).module
    try:
        found = importlib.import_module(name)
    except Exception as err:  # a user's module can fail in any way: say which and why
        raise InputError(None, f"module {name!r}", f"cannot import the family ({type(err).__name__}: {err}); put "
                                                   "the folder holding it on PYTHONPATH") from None
    cls = getattr(found, "MODEL", None)
    if cls is not None and not (isinstance(cls, type) and issubclass(cls, Model)):
        raise InputError(None, f"module {name!r}", f"MODEL must be a subclass of {Model.__module__}.Model, got {cls!r}")
    makers = {}
    for maker in ("build", "create"):
        fn = getattr(found, maker, None) or (getattr(cls, maker) if cls is not None else None)
        if fn is None:
            raise InputError(None, f"module {name!r}", f"has no {maker}(): define MODEL (a Model subclass) or the "
                                                       "functions build(architecture) and create(settings, "
                                                       "vocab_size, readout_units)")
        makers[maker] = fn
    return Family(found, makers["build"], makers["create"])


def check_contract(model: Model, where: str) -> None:
    """A model a family made, checked against the contract: an instance of :class:`Model` with
    every abstract method and at least one network with readouts."""
    if not isinstance(model, Model):
        raise InputError(None, where, f"made a {type(model).__name__}, not a lingscope.models.base.Model")
    for network in model.networks:
        if not model.readouts(network):
            raise InputError(None, where, f"network {network!r} has no readouts")
    if not model.networks:
        raise InputError(None, where, "the model has no networks (declare NETWORKS in its module)")


def build(architecture: dict) -> Model:
    made = family(architecture["kind"], architecture.get("module"))
    try:
        return made.build(architecture)
    except TypeError as err:
        if "abstract" in str(err):  # a subclass that leaves part of the contract out
            raise InputError(None, f"module {made.module.__name__!r}", f"does not implement the contract: {err}") \
                from None
        raise


def load_model(path, device: str | torch.device = "cpu") -> tuple[Model, dict]:
    """A model saved by :func:`save_model`, in eval mode, and the saved extras."""
    try:
        # The extras (statistics, names) stay on the CPU; only the model moves to ``device``.
        blob = torch.load(path, map_location="cpu", weights_only=False)
        architecture = blob.pop("architecture")
    except Exception as err:  # torch raises many types for a file that is not a checkpoint
        raise InputError(path, None, f"not a lingscope model file ({err})") from None
    if architecture.get("kind") not in catalog.KINDS:
        raise InputError(path, None, f"model kind {architecture.get('kind')!r} is not in the catalog {sorted(catalog.KINDS)}")
    try:
        model = build(architecture)
        model.load_state_dict(blob.pop("state_dict"))
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        raise InputError(path, f"model kind {architecture['kind']!r}",
                         f"the saved weights do not fit the family's model ({err})") from None
    return model.to(device).eval(), blob


def open_network(path, network: str, runtime) -> tuple[Model, dict, torch.device]:
    """A job's model, for one of its networks, on the device of its ``Runtime`` settings (whose
    thread count is applied too): ``(model, extras, device)``."""
    device = use_runtime(runtime)
    model, extra = load_network(path, network, device)
    return model, extra, device


def load_network(path, network: str, device: str | torch.device = "cpu") -> tuple[Model, dict]:
    """:func:`load_model`, checking that the model has ``network``."""
    model, extra = load_model(path, device)
    if network not in model.networks:
        raise InputError(path, f"model {extra.get('name')}", f"has no {network!r} network (it has {model.networks})")
    return model, extra
