"""The catalog: every model kind, its networks, and which methods apply to which network.

This is the one place that lists them. The workflow plans its jobs from it, the config check
validates each ``models.<name>`` entry against its kind's settings, the analyses and plots take
the networks' display names and colours from it, and ``tests/test_contract.py`` runs every
method on every network it lists. It is torch-free, so the workflow reads it at DAG time.

Vocabulary:
- a **kind** is what a ``models.<name>`` entry of the config builds (``imaginet``, ``sum``, ``lm``);
  its **family** is the module under :mod:`lingscope.models` that implements it;
- a **network** is one model x pathway, the unit every method works on (IMAGINET/visual);
- a **readout** is a named set of output units a network offers (``vocabulary``: next-word
  logits; ``image``: the image-vector prediction); methods and objectives target readouts;
- a **method** applies to a network when the network offers what the method needs.

Adding a family: write ``lingscope/models/<family>.py`` implementing :mod:`lingscope.models.base`,
then add its kinds (with their settings class) to :data:`KINDS` below. Adding a method: write
``lingscope/methods/<method>.py`` against the contract and add it to :data:`METHODS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from lingscope.core.errors import InputError
from lingscope.core.settings import TrainingSettings, option

# --- families' settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptionModelSettings(TrainingSettings):
    """IMAGINET, SUM and LM (Kadar et al. 2017, sec. 3): one ``models.<name>`` entry."""

    kind: str = option("imaginet", "imaginet or sum", choices=("imaginet", "sum"))
    embedding_dim: int = option(64, "word embedding size (the paper: 1024)", minimum=1)
    hidden_dim: int = option(128, "GRU state size (the paper: 1024)", minimum=1)
    gru: str = option("fused", "fused: torch.nn.GRU; authors: clipped-ReLU candidate, steep sigmoid gates",
                      choices=("fused", "authors"))
    alpha: float = option(0.1, "weight of the textual loss (or its sampling probability)", minimum=0.0, maximum=1.0)
    task_sampling: bool = option(False, "the authors' code: one task per batch, textual with probability alpha")


@dataclass(frozen=True)
class LanguageModelSettings(CaptionModelSettings):
    """The stand-alone language model (``kind: lm``): the paper's one-layer GRU by default, or a
    stack of GRU or LSTM layers (``cell``, ``layers``, ``dropout``) on any corpus with text."""

    kind: str = option("lm", "lm", choices=("lm",))
    cell: str = option("gru", "gru (the paper's) or lstm", choices=("gru", "lstm"))
    layers: int = option(1, "stacked recurrent layers (the paper: 1)", minimum=1)
    dropout: float = option(0.0, "dropout between stacked layers and before the vocabulary readout", minimum=0.0,
                            maximum=0.9)
    alpha: float = option(1.0, "unused: a language model has only the textual loss", minimum=0.0, maximum=1.0)

    def check(self, label) -> None:
        if self.gru == "authors" and (self.cell != "gru" or self.layers != 1):
            raise InputError(None, label("gru"), f"authors (the authors' GRU cell) needs cell: gru and layers: 1, got "
                                                 f"cell: {self.cell}, layers: {self.layers}; use gru: fused")


@dataclass(frozen=True)
class SentimentModelSettings(TrainingSettings):
    """The sentiment classifiers of Li et al. (2016, sec. 3): one ``models.<name>`` entry.

    The defaults are the authors' code's (docs/li2016.md#training): AdaGrad, every phrase of the train
    trees an example, dropout 0.2 on the input and the recurrent input of every step (the paper
    says 0.1); the kept epoch is the one with the best dev accuracy (theirs: test accuracy)."""

    kind: str = option("lstm", "rnn, lstm or bilstm", choices=("rnn", "lstm", "bilstm"))
    # The authors' code's schedule, so an entry that gives only its kind and corpus trains as theirs.
    batch_size: int = option(100, "examples per batch (the authors: 1000 phrases of the real SST's 215k)", minimum=1)
    learning_rate: float = option(0.1, "learning rate (the authors' code: 0.1 with AdaGrad, 0.05 for the BiLSTM)",
                                  positive=True)
    patience: int = option(3, "epochs without validation improvement before stopping", minimum=1)
    embedding_dim: int = option(60, "word embedding size (the paper: 60)", minimum=1)
    hidden_dim: int = option(60, "state size of each direction (the paper: 60)", minimum=1)
    dropout: float = option(0.2, "dropout on the input and the recurrent input of every step (the paper: 0.1; "
                            "the authors' code: 0.2)", minimum=0.0, maximum=0.9)
    optimizer: str = option("adagrad", "adam or adagrad (the paper: adagrad)", choices=("adam", "adagrad"))
    grad_clip: float = option(0.0, "max gradient norm; 0 disables (the authors' code clips nothing)", minimum=0)
    l2: float = option(1e-4, "L2 penalty (the paper tunes it on dev; the authors' code: 0). 1e-4 has the best dev "
                       "accuracy of 0, 1e-5, 1e-4, 3e-4, 1e-3 on the synthetic treebank "
                       "(docs/li2016.md#training)", minimum=0)
    stop_on: str = option("accuracy", "early stopping and the kept epoch: dev accuracy or dev loss",
                          choices=("loss", "accuracy"))
    examples: str = option("phrases", "phrases: every labelled phrase of the train trees (the paper); "
                           "sentences: whole sentences only", choices=("sentences", "phrases"))


@dataclass(frozen=True)
class AutoencoderSettings(TrainingSettings):
    """The LSTM sequence autoencoder of Li et al. (2016, sec. 3.2; docs/li2016.md#autoencoder), after
    Sutskever et al. (2014): one ``models.<name>`` entry.

    The laptop defaults are small and use Adam; ``workflow/configs/paper.yaml`` sets the paper's
    protocol: 4 layers of 1000 cells, 1000-d embeddings, uniform +-0.08 init, SGD at lr 0.7
    halved every half epoch after epoch 5, batches of 128, the gradient norm clipped at 5."""

    kind: str = option("autoencoder", "autoencoder", choices=("autoencoder",))
    embedding_dim: int = option(64, "word embedding size, shared by the encoder and the decoder (the paper: 1000)",
                                minimum=1)
    hidden_dim: int = option(128, "LSTM state size of every layer (the paper: 1000)", minimum=1)
    layers: int = option(1, "stacked LSTM layers of the encoder and of the decoder (the paper: 4)", minimum=1)
    init_scale: float = option(0.08, "every weight drawn uniformly from [-init_scale, init_scale] (Sutskever et "
                               "al.: 0.08); 0 keeps torch's default initialisation", minimum=0)
    dropout: float = option(0.0, "dropout between stacked layers (Sutskever et al.: none)", minimum=0.0, maximum=0.9)
    reverse_source: bool = option(True, "the encoder reads the words right to left, then <eos> (Sutskever et al.)")
    optimizer: str = option("adam", "adam, adagrad or sgd (the paper: sgd)", choices=("adam", "adagrad", "sgd"))
    lr_decay_start: float = option(0.0, "epochs of training after which the learning rate is halved every "
                                   "lr_decay_every epochs (the paper: 5); 0 keeps it constant", minimum=0)
    lr_decay_every: float = option(0.5, "epochs between two halvings of the learning rate (the paper: 0.5)",
                                   positive=True)


@dataclass(frozen=True)
class PretrainedSettings(TrainingSettings):
    """A network trained outside lingscope (``kind: pretrained``): a torch ``state_dict`` in the
    layout of PyTorch's word-language-model example (an embedding, a ``torch.nn.LSTM``, ``GRU`` or
    ``RNN``, a linear head), its vocabulary, and how to read them. It is checked, never trained
    (docs/extending.md#a-model-you-trained)."""

    GROUPS = {"architecture": {"cell": "cell", "layers": "layers", "bidirectional": "bidirectional", "head": "head"},
              "keys": {"embedding": "key_embedding", "rnn": "key_rnn", "head": "key_head"},
              "specials": {"unk": "unk", "eos": "eos"}}

    kind: str = option("pretrained", "pretrained", choices=("pretrained",))
    checkpoint: str = option("", "the torch state_dict (torch.save(model.state_dict(), PATH)), relative to the "
                             "working directory", empty=True)
    vocabulary: str = option("", "the vocabulary: one token per line, line i (from 0) is token id i; UTF-8",
                             empty=True)
    labels: str = option("", "a classes head's label names, one per line, line i naming class i (empty: class i "
                         "is the corpus's label id i)", empty=True)
    cell: str = option("lstm", "the recurrent layer: lstm, gru (torch.nn.LSTM, torch.nn.GRU) or rnn "
                       "(torch.nn.RNN, tanh; rnn_relu: nonlinearity='relu')", choices=("lstm", "gru", "rnn", "rnn_relu"))
    layers: int = option(1, "stacked recurrent layers", minimum=1)
    bidirectional: bool = option(False, "the recurrent layer reads both directions (a classes head only)")
    head: str = option("next_token", "next_token: a linear layer from each state to the vocabulary's logits; "
                       "classes: a linear layer from the sentence's final state(s) to class scores",
                       choices=("next_token", "classes"))
    key_embedding: str = option("encoder.weight", "the embedding matrix's key (vocabulary x embedding size)")
    key_rnn: str = option("rnn", "the prefix of the recurrent layer's torch parameter names (rnn.weight_ih_l0, ...)")
    key_head: str = option("decoder", "the prefix of the head's weight and bias (decoder.weight, decoder.bias)")
    unk: str = option("<unk>", "the vocabulary's token for a word outside it")
    eos: str = option("<eos>", "the vocabulary's end-of-sentence token, read after every sentence's last word; "
                      "empty: the network reads no end symbol", empty=True)
    # Nothing here is trained: the optimisation settings keep their defaults and leave the entry.
    batch_size: int = option(64, "sentences per batch of the evaluation", minimum=1, in_config=False)
    learning_rate: float = option(1e-3, "unused: a pretrained network is not trained", positive=True,
                                  in_config=False)
    grad_clip: float = option(5.0, "unused", minimum=0, in_config=False)
    max_epochs: int = option(10, "unused", minimum=1, in_config=False)
    patience: int = option(2, "unused", minimum=1, in_config=False)
    max_train_sentences: int = option(0, "unused", minimum=0, in_config=False)
    seed: int = option(1, "unused", in_config=False)

    def check(self, label) -> None:
        for name in ("corpus", "checkpoint", "vocabulary"):
            if not getattr(self, name):
                raise InputError(None, label(name), "missing: a pretrained network needs the corpus it is "
                                                    "analysed on, its checkpoint and its vocabulary file")
        if self.bidirectional and self.head == "next_token":
            raise InputError(None, label("bidirectional"), "a next_token head needs a one-directional network: "
                                                           "a bidirectional state has already read the next token")


@dataclass(frozen=True)
class CustomSettings(TrainingSettings):
    """A family of the user's own (``kind: custom``, docs/extending.md#a-family-of-your-own): a module outside
    lingscope, importable from the user's environment, that implements the model contract and
    that lingscope trains like its own families. These keys are what its ``create`` reads."""

    kind: str = option("custom", "custom", choices=("custom",))
    module: str = option("", "the module (dotted name, on PYTHONPATH) that implements the contract: its NETWORKS, "
                         "and build/create (functions, or classmethods of its MODEL class)",
                         pattern=r"([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?", empty=True)
    embedding_dim: int = option(64, "word embedding size", minimum=1)
    hidden_dim: int = option(128, "state size", minimum=1)
    layers: int = option(1, "stacked recurrent layers", minimum=1)
    dropout: float = option(0.0, "dropout rate, for the family to use as it sees fit", minimum=0.0, maximum=0.9)

    def check(self, label) -> None:
        for name in ("corpus", "module"):
            if not getattr(self, name):
                raise InputError(None, label(name), "missing: a custom family needs the corpus it trains on and the "
                                                    "module that implements it")


# --- networks, kinds, methods --------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """One network of a kind (a pathway of the model)."""

    name: str  # the pathway: the name the model, the file names and the tables use
    display: str  # how figures and tables label it (the paper's name where it has one)
    colour: str  # its colour in every figure
    readouts: tuple[str, ...]  # the readouts it offers (see the module docstring)


@dataclass(frozen=True)
class Kind:
    """What one ``models.<name>`` entry builds."""

    name: str
    family: str  # module lingscope.models.<family>
    description: str
    corpus: str  # the corpus it is trained and analysed on
    tables: tuple[str, ...]  # data tables it trains on besides the corpus's sentences and vocabulary
    networks: tuple[Network, ...]
    settings: type[TrainingSettings]
    reads_eos: bool = True  # sentences are read with <eos> after the last word
    evaluate_on: tuple[str, ...] = ("val",)  # the splits its evaluation scores
    # The corpus formats it can train on (a model entry's ``corpus:`` must be of one of them):
    # coco (captions with images), sst (treebank), wmt and text (running text), labelled (sentences
    # with a class label).
    formats: tuple[str, ...] = ("coco", "sst", "wmt", "labelled", "text")
    trained: bool = True  # False: checked and loaded from the user's files, not trained (pretrained)
    # The kind as one entry's settings make it (networks that depend on the entry's head); None:
    # every entry of the kind is the same.
    specialise: Callable[[Kind, TrainingSettings], Kind] | None = None

    module_name: str = ""  # a module outside lingscope (kind custom); else lingscope.models.<family>

    @property
    def module(self) -> str:
        return self.module_name or f"lingscope.models.{self.family}"

    def of(self, settings: TrainingSettings) -> Kind:
        """This kind as the entry ``settings`` builds it."""
        return self if self.specialise is None else self.specialise(self, settings)

    def network(self, name: str) -> Network:
        for network in self.networks:
            if network.name == name:
                return network
        raise KeyError(f"kind {self.name!r} has no network {name!r}; it has {[n.name for n in self.networks]}")


@dataclass(frozen=True)
class Method:
    """A method and what a network must offer for it to apply."""

    name: str  # also the rule that runs it
    module: str
    description: str
    needs_readout: str | tuple[str, ...] | None = None  # a readout, or a tuple: any one of them
    # "module:Class" of its settings, read from the config section named after the method (the
    # generated config schema and the workflow's flags both take it from here); None: no section.
    settings: str | None = None

    def applies(self, network: Network) -> bool:
        if self.needs_readout is None:
            return True
        needs = (self.needs_readout,) if isinstance(self.needs_readout, str) else self.needs_readout
        return any(readout in network.readouts for readout in needs)


# Input optimisation's target name for a network's hidden units (the units of its sentence
# representation), beside its readouts' names; no readout may be called so.
HIDDEN_TARGET = "representation"
# Readouts that decode a whole sequence: no unit to read after an input (input optimisation
# needs another readout, or the hidden units).
SEQUENCE_READOUTS = ("reconstruction",)

_TEXTUAL = ("vocabulary",)
_VISUAL = ("image",)
_SENTIMENT = ("sentiment",)
_RECONSTRUCTION = SEQUENCE_READOUTS
LABELLED = ("sst", "labelled")  # corpus formats with a class label per sentence
# A pretrained network's pathway and readout, by its head.
PRETRAINED_NETWORKS = {"next_token": ("textual", ("vocabulary",)), "classes": ("classifier", ("classes",))}


def _pretrained(kind: Kind, settings: TrainingSettings) -> Kind:
    """A pretrained entry's network is its head's: a language model's ``textual`` with the
    ``vocabulary`` readout, or a classifier's ``classifier`` with ``classes``; a classifier is
    scored on a labelled corpus, and the end symbol is read only when ``specials.eos`` is set."""
    pathway, readouts = PRETRAINED_NETWORKS[settings.head]
    formats = kind.formats if settings.head == "next_token" else LABELLED
    tables = () if settings.head == "next_token" else ("phrases",)  # a classifier is scored on the labels
    return dataclasses.replace(kind, networks=(Network(pathway, pathway, "#555555", readouts),), formats=formats,
                               tables=tables, reads_eos=bool(settings.eos), specialise=None)

# The readouts a family of the user's own may declare (what the objectives, the evaluation and
# the methods know by name), with the data tables they train on.
CUSTOM_READOUTS = {"vocabulary": (), "reconstruction": (), "classes": ("phrases",), "sentiment": ("phrases",),
                   "image": ("image_features",)}


def _custom(kind: Kind, settings: TrainingSettings) -> Kind:
    """A custom entry's kind, from what its module declares (read, not run: planning stays
    torch-free): ``NETWORKS = {"textual": ("vocabulary",)}`` (each network's readouts, of
    :data:`CUSTOM_READOUTS`) and, optionally, ``READS_EOS = False``."""
    from lingscope.core.code import CodeError, declared

    where = f"models (kind custom, module {settings.module})"
    try:
        networks = declared(settings.module, "NETWORKS")
        reads_eos = declared(settings.module, "READS_EOS", True)
    except CodeError as err:
        raise InputError(None, where, str(err)) from None
    if not isinstance(networks, dict) or not networks:
        raise InputError(None, where, "the module must declare NETWORKS = {network: (readout, ...)}, a non-empty "
                                      f"literal dict; got {networks!r}")
    readouts = set()
    for name, names in networks.items():
        names = (names,) if isinstance(names, str) else names
        unknown = [r for r in names if r not in CUSTOM_READOUTS]
        if not isinstance(name, str) or unknown or not names:
            raise InputError(None, where, f"NETWORKS[{name!r}] names {list(names)}; each readout must be one of "
                                          f"{sorted(CUSTOM_READOUTS)}")
        readouts |= set(names)
    formats = ("coco",) if "image" in readouts else LABELLED if readouts & {"classes", "sentiment"} else kind.formats
    tables = tuple(sorted({t for r in readouts for t in CUSTOM_READOUTS[r]}))
    return dataclasses.replace(
        kind, networks=tuple(Network(n, n, "#555555", (r,) if isinstance(r, str) else tuple(r))
                             for n, r in networks.items()),
        formats=formats, tables=tables, reads_eos=bool(reads_eos), module_name=settings.module, specialise=None)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("imaginet", "imaginet", "shared embedding; a VISUAL GRU predicts the image, a TEXTUAL GRU the next word",
             "coco", ("image_features",),
             (Network("textual", "Textual", "#ff7f0e", _TEXTUAL), Network("visual", "Visual", "#1f77b4", _VISUAL)),
             CaptionModelSettings, formats=("coco",)),
        Kind("sum", "imaginet", "IMAGINET with the VISUAL GRU replaced by a sum of word embeddings",
             "coco", ("image_features",),
             (Network("textual", "Sum textual", "#bcbd22", _TEXTUAL), Network("visual", "Sum", "#7f7f7f", _VISUAL)),
             CaptionModelSettings, formats=("coco",)),
        Kind("lm", "imaginet", "a stand-alone language model (a GRU, or a stack of GRU or LSTM layers)",
             "coco", (), (Network("textual", "LM", "#9467bd", _TEXTUAL),), LanguageModelSettings),
        Kind("rnn", "sentiment", "a tanh RNN; a linear softmax classifier on its last state",
             "sst", ("phrases",), (Network("sentiment", "RNN", "#2ca02c", _SENTIMENT),), SentimentModelSettings,
             reads_eos=False, evaluate_on=("val", "test"), formats=LABELLED),
        Kind("lstm", "sentiment", "an LSTM; a linear softmax classifier on its last state",
             "sst", ("phrases",), (Network("sentiment", "LSTM", "#d62728", _SENTIMENT),), SentimentModelSettings,
             reads_eos=False, evaluate_on=("val", "test"), formats=LABELLED),
        Kind("bilstm", "sentiment", "a BiLSTM; a linear softmax classifier on both directions' final states",
             "sst", ("phrases",), (Network("sentiment", "BiLSTM", "#8c564b", _SENTIMENT),), SentimentModelSettings,
             reads_eos=False, evaluate_on=("val", "test"), formats=LABELLED),
        Kind("autoencoder", "autoencoder", "an LSTM encoder-decoder that reproduces its input sentence (Sutskever et al. "
             "2014); the encoder reads the words reversed", "wmt", (),
             (Network("encoder", "Autoencoder", "#17becf", _RECONSTRUCTION),), AutoencoderSettings,
             evaluate_on=("val", "test")),
        Kind("custom", "", "a family of the user's own: a module outside lingscope that implements the contract",
             "", (), (), CustomSettings, evaluate_on=("val", "test"), specialise=_custom),
        Kind("pretrained", "pretrained", "a network trained outside lingscope: an embedding, a torch LSTM, GRU or "
             "RNN and a linear head, read from a state_dict", "", (), (), PretrainedSettings,
             evaluate_on=("val", "test"), trained=False, specialise=_pretrained),
    )
}

METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("activations", "lingscope.methods.activations", "per-token states and the sentence representation", settings="lingscope.methods.settings:ActivationSettings"),
        Method("omission", "lingscope.methods.omission", "1 - cos of the representation with and without each word", settings="lingscope.methods.settings:OmissionSettings"),
        Method("retrieval_examples", "lingscope.methods.retrieval_examples",
               "images retrieved with and without a caption's most important word (Fig. 1)", needs_readout="image"),
        Method("saliency", "lingscope.methods.saliency",
               "first-derivative saliency of the predicted class's score and variance salience, every token of a "
               "split and the example sentences (Li et al. 2016, Figs. 5-8)", needs_readout=("sentiment", "classes"), settings="lingscope.methods.settings:SaliencySettings"),
        Method("representations", "lingscope.methods.representations",
               "representations of the example phrases and states of the concessive sentences (Li et al. 2016, "
               "Figs. 1-4)", needs_readout=("sentiment", "classes")),
        Method("input_optimisation", "lingscope.methods.input_optimisation",
               "the 5-gram that maximises each drawn unit of a readout (image, vocabulary, class scores) and of "
               "the representation (hidden units), and named words, by corpus search and four gradient methods "
               "(Poerner et al. 2018)", settings="lingscope.methods.settings:InputOptimisationSettings"),
        Method("attribution", "lingscope.methods.attribution",
               "saliency, gradient x input and integrated gradients of each word, for the score of the network's "
               "readout (docs/beyond.md#attribution)", settings="lingscope.methods.settings:AttributionSettings"),
        Method("step_saliency", "lingscope.methods.step_saliency",
               "saliency of every source and decoded token for each decoding step of a sequence readout (Li et al. "
               "2016, Fig. 9)", needs_readout="reconstruction", settings="lingscope.methods.settings:StepSaliencySettings"),
    )
}

# Kadar et al. (2017) compare four networks (Fig. 4 and the R^2 table, in this order); Figs. 1-3
# set VISUAL against TEXTUAL.
KADAR_NETWORKS: tuple[str, ...] = ("Sum", "LM", "Textual", "Visual")
KADAR_PAIR: tuple[str, str] = ("Visual", "Textual")
# Li et al. (2016) compare three sentiment networks (their accuracy table, Figs. 5-7).
LI_NETWORKS: tuple[str, ...] = ("RNN", "LSTM", "BiLSTM")
# Poerner et al. (2018) optimise the inputs of IMAGINET's VISUAL image projection and of the
# language models' vocabulary (their Fig. 1 and Table 1, in this order).
POERNER_NETWORKS: tuple[str, ...] = ("Visual", "Textual", "LM")


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown model kind {name!r}; the catalog has {sorted(KINDS)}") from None


def network_display(model: str, network: str) -> str:
    """How figures and tables label network ``network`` of the config's model entry ``model``.

    The entry named after a kind (``models.imaginet``; :func:`check_models` makes sure it is of
    that kind) gives the catalog's name (``Visual``); any other entry is labelled by its own
    name (``imaginet_authors/visual``), so two entries of one kind never share a label.
    """
    entry = KINDS.get(model)
    if entry is not None:
        for candidate in entry.networks:
            if candidate.name == network:
                return candidate.display
    return f"{model}/{network}"


def check_models(models: dict) -> dict[str, TrainingSettings]:
    """Each ``models.<name>`` entry of a config checked against its kind's settings; an entry
    named after a kind must be of that kind (its networks are labelled by the catalog). An entry
    set to ``None`` (``null`` in YAML) is dropped: a config file can remove one of config.yaml's."""
    out = {}
    for name, entry in models.items():
        if entry is None:
            continue
        where = f"models.{name}"
        kind_name = entry.get("kind") if isinstance(entry, dict) else None
        if kind_name not in KINDS:
            raise InputError(None, f"{where}.kind", f"must be one of {sorted(KINDS)}, got {kind_name!r}")
        if name in KINDS and kind_name != name:
            raise InputError(None, f"{where}.kind", f"an entry named after the kind {name!r} must be of that kind, "
                                                    f"got {kind_name!r}; rename the entry")
        # Keys an entry leaves out take its settings class's defaults: {kind: lstm, corpus: mr} is a
        # whole entry.
        out[name] = KINDS[kind_name].settings.from_config(entry, where, defaults=True)
    return out


def colour(display: str) -> str:
    """The figure colour of a network by its display name (grey for entries outside the catalog)."""
    for entry in KINDS.values():
        for network in entry.networks:
            if network.display == display:
                return network.colour
    return "#555555"


def settings_of(kind_name: str) -> type[TrainingSettings]:
    return kind(kind_name).settings


def settings_fields(kind_name: str) -> list[str]:
    return [f.name for f in dataclasses.fields(settings_of(kind_name))]
