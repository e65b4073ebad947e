"""A family of the user's own (``kind: custom``, docs/extending.md#a-family-of-your-own): what the
planner reads from its module without running it, and the errors that name a module it cannot
find, one that declares no networks, and one that leaves part of the contract out."""

from __future__ import annotations

import sys

import pytest

from lingscope.core import catalog
from lingscope.core.errors import InputError
from lingscope.models.checkpoint import load_model, save_model
from lingscope.training.train import make

GOOD = '''
import torch
from torch import nn
from lingscope.models.base import CLASSES, Model, Objective, Readout

NETWORKS = {"enc": ("classes",)}
READS_EOS = False


class Bag(Model):
    def __init__(self, architecture):
        super().__init__(architecture)
        self.embedding = nn.Embedding(architecture["vocab"], 4, padding_idx=0)
        self.out = nn.Linear(4, architecture["classes"])

    @classmethod
    def create(cls, settings, vocab_size, readout_units):
        return cls({"vocab": vocab_size, "classes": readout_units["classes"]})

    def state_dim(self, network):
        return 4

    def states(self, network, emb, lengths):
        return emb.cumsum(1)

    def readouts(self, network):
        return {"classes": Readout("classes", CLASSES, self.architecture["classes"])}
{readout}
    def objectives(self):
        return (Objective("enc", "enc", "classes", 1.0),)


MODEL = Bag
'''
READOUT = '''
    def readout(self, network, name, h):
        return self.out(h)
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name, text):
        (tmp_path / f"{name}.py").write_text(text)
        sys.modules.pop(name, None)
        return name
    return write


def _entry(module):
    return catalog.check_models({"bag": {"kind": "custom", "corpus": "reviews", "module": module}})["bag"]


def test_the_planner_reads_the_networks_without_running_the_module(user_module):
    name = user_module("bag_ok", "raise SystemExit('never run')\n" + GOOD.replace("{readout}", READOUT))
    kind = catalog.kind("custom").of(_entry(name))
    assert [(n.name, n.readouts) for n in kind.networks] == [("enc", ("classes",))]
    assert kind.module == name and not kind.reads_eos and kind.formats == catalog.LABELLED
    assert kind.tables == ("phrases",) and name not in sys.modules


def test_a_module_that_cannot_be_found_is_named(user_module):
    with pytest.raises(InputError, match=r"module no_such_family.*cannot find the module 'no_such_family'"):
        catalog.kind("custom").of(_entry("no_such_family"))


def test_a_module_without_networks_is_named(user_module):
    name = user_module("bag_bare", "x = 1\n")
    with pytest.raises(InputError, match=r"must declare NETWORKS"):
        catalog.kind("custom").of(_entry(name))
    name = user_module("bag_odd", "NETWORKS = {'enc': ('logits',)}\n")
    with pytest.raises(InputError, match=r"each readout must be one of"):
        catalog.kind("custom").of(_entry(name))


def test_a_class_that_leaves_part_of_the_contract_out_is_named(user_module):
    name = user_module("bag_partial", GOOD.replace("{readout}", ""))
    settings = _entry(name)
    with pytest.raises(InputError, match=r"module 'bag_partial'.*does not implement the contract.*readout"):
        make(catalog.kind("custom").of(settings), settings, 10, {"classes": 2})


def test_a_module_that_fails_on_import_is_named(user_module):
    name = user_module("bag_broken", "NETWORKS = {'enc': ('classes',)}\nimport no_such_dependency\n")
    settings = _entry(name)
    with pytest.raises(InputError, match=r"module 'bag_broken'.*cannot import the family.*no_such_dependency"):
        make(catalog.kind("custom").of(settings), settings, 10, {"classes": 2})


def test_a_made_model_is_saved_and_loaded_through_its_module(user_module, tmp_path):
    name = user_module("bag_round", GOOD.replace("{readout}", READOUT))
    settings = _entry(name)
    model = make(catalog.kind("custom").of(settings), settings, 10, {"classes": 3})
    assert model.architecture["module"] == name and model.networks == ("enc",) and not model.reads_eos
    save_model(tmp_path / "m.pt", model, {"name": "bag"})
    loaded, extra = load_model(tmp_path / "m.pt")
    assert type(loaded).__name__ == "Bag" and loaded.readouts("enc")["classes"].units == 3
