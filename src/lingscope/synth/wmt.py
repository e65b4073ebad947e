"""Synthetic WMT'14-style English news text, one sentence per line, from a seed.

A small probabilistic grammar produces news-like sentences: people and organisations as
subjects, past-tense verbs, objects, prepositional phrases, relative clauses, numbers
(3.5 million, 1,200, 12%, $4.2 billion), possessives and contractions, and quoted speech
with "said". Lengths vary widely (5th-95th percentile 8-37 tokens) and average about 20
tokens (WMT: 22.5). Output mirrors the published files: ``train.txt.gz`` gzipped like
``news.2014.en.shuffled``, ``val.txt`` and ``test.txt`` plain like ``newstest``. The same
seed gives byte-identical files.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from lingscope.core.errors import run_cli
from lingscope.synth.settings import SyntheticSizes
from lingscope.synth.cli import corpus_parser
from lingscope.core.io import atomic_path

# Word lists, most frequent first: `Grammar.zipf` favours the head so type frequencies fall off
# like natural text and a min-count cut-off has something to cut.
_FIRST = (
    "John Mary David Sarah Michael Anna James Laura Peter Emma Robert Julia Thomas Helen Paul Maria Mark "
    "Claire Daniel Sophie Richard Lucy Andrew Kate Simon Alice Steven Rachel Martin Nina Chris Elena "
    "George Diana Carlos Fatima Ahmed Yuki Igor Ingrid"
).split()
_LAST = (
    "Smith Johnson Brown Miller Davis Wilson Taylor Clark Lewis Walker Hall Young King Wright Scott Green "
    "Baker Adams Nelson Carter Mitchell Roberts Turner Phillips Campbell Parker Evans Edwards Collins "
    "Stewart Morris Murphy Cook Rogers Morgan Cooper Peterson Reed Bailey Bell Kelly Howard Ward Cox "
    "Richardson Wood Watson Brooks Bennett Gray Hughes Price Sanders Myers Long Ross Foster Schmidt "
    "Dubois Rossi Novak Tanaka Kowalski Silva Larsen Okafor"
).split()
_ROLES = (
    "spokesman spokeswoman minister official analyst economist director chairman lawyer judge president "
    "senator governor mayor professor researcher manager coach prosecutor commissioner"
).split()
_ORGS = (
    "the government|the company|the ministry|the police|the European Union|the central bank|"
    "the United Nations|the White House|the council|the bank|the court|Congress|the World Bank|the IMF|"
    "Google|Apple|the BBC|the union|the army|NATO"
).split("|")
_PLACES = (
    "London|Paris|Berlin|Washington|the U.S.|Britain|China|Germany|France|Russia|Syria|Brussels|New York|"
    "Moscow|Tokyo|India|Brazil|Spain|Italy|Iran|Egypt|Canada|Australia|Scotland|Ukraine|Mexico|Greece|"
    "Japan|Afghanistan|South Africa"
).split("|")
_NOUNS = (
    "company government plan report year week month deal market price decision law investigation meeting "
    "group country city team game season election vote policy budget bill agreement attack crisis project "
    "system campaign proposal statement court case study share rate service programme contract match "
    "debate strategy survey announcement increase loss profit sale bid scheme reform summit protest "
    "strike scandal victory defeat trial inquiry network website festival museum hospital school airport "
    "bridge road station village region economy industry sector debt tax fund loan"
).split()
_PLURALS = (
    "people officials companies prices workers voters students patients children families businesses "
    "investors shares markets players fans residents members leaders troops protesters banks doctors "
    "teachers jobs taxes talks sales profits costs figures results measures services rules laws changes "
    "plans rates weapons cars homes houses games elections reports documents"
).split()
_ADJS = (
    "new former local national international political economic major first last big small public "
    "financial recent key senior foreign strong top high low military private federal British American "
    "European Chinese global serious early final annual significant legal social independent crucial "
    "controversial surprising"
).split()
_TRANS = (
    "announced rejected approved launched criticised welcomed signed confirmed blocked introduced "
    "supported opposed reported won lost raised cut increased reduced unveiled delayed ordered received "
    "accepted denied defended revealed discussed backed sold bought closed opened faced ended began "
    "completed questioned investigated hired warned praised"
).split()
_INTRANS = (
    "fell rose collapsed resigned arrived died disappeared improved recovered declined grew failed "
    "succeeded returned struggled agreed refused responded retired surged slumped"
).split()
_BASE = (
    "accept support change pay stop allow win lose leave comment confirm say explain continue afford " "ignore"
).split()
_PREPS = "in at on after before during from with without against for under over across near despite".split()
_TIMES = (
    "last week|on Monday|on Tuesday|on Wednesday|on Thursday|on Friday|on Saturday|on Sunday|last year|"
    "last month|earlier this year|in 2013|in 2012|this week|yesterday|in January|in March|in June|"
    "in October|earlier this month|in recent years|for the first time"
).split("|")
_ADVS = "also|now|still|already|recently|finally|previously|eventually|quickly|reportedly|later".split("|")
_INTROS = (
    "However|Meanwhile|In addition|At the same time|According to officials|In a statement|"
    "On the other hand|Last year|Earlier this week|Despite this|In fact"
).split("|")
_CONJS = "but|and|while|although|because|after|as".split("|")
_SAYS = "said|told reporters|added|explained|warned|insisted|said in a statement|told the BBC".split("|")
_COUNTS = "two three four five six seven eight nine ten dozens hundreds thousands".split()
_UNITS = ["million", "billion"]
_CURRENCY = "$ £ €".split()
_VOWELS = frozenset("aeiouAEIOU")
_OPEN_Q, _CLOSE_Q = "_OQ", "_CQ"  # opening and closing quotes, both written as '"'
# Tokens that attach to the word before (no space) or the word after when the line is written.
_NO_SPACE_BEFORE = frozenset([",", ".", "?", "!", ":", ";", "%", "'s", "n't", _CLOSE_Q])
_NO_SPACE_AFTER = frozenset([_OPEN_Q, *_CURRENCY])


class _Random:
    """Uniform draws served from numpy blocks: one numpy call per 64k draws keeps it fast."""

    def __init__(self, rng: np.random.Generator, block: int = 1 << 16):
        self._rng, self._block = rng, block
        self._buf: list[float] = []
        self._i = 0

    def u(self) -> float:
        if self._i == len(self._buf):
            self._buf, self._i = self._rng.random(self._block).tolist(), 0
        self._i += 1
        return self._buf[self._i - 1]


class Grammar:
    """The sentence grammar: each method appends tokens to ``out``, drawing from one seeded stream."""

    def __init__(self, rng: np.random.Generator):
        self.u = _Random(rng).u

    def p(self, prob: float) -> bool:
        return self.u() < prob

    def pick(self, words: list[str]) -> str:
        return words[int(self.u() * len(words))]

    def zipf(self, words: list[str]) -> str:
        # The product of two draws leans towards the head of the list: a cheap Zipf-like law.
        return words[int(self.u() * self.u() * len(words))]

    def number(self, out: list[str], digits: bool = False) -> None:
        x = self.u() * (0.8 if digits else 1.0)
        if x < 0.3:
            out.append(str(int(2 + self.u() * 98)))
        elif x < 0.55:
            out += [f"{1 + self.u() * 9:.1f}", self.pick(_UNITS)]
        elif x < 0.8:
            out.append(f"{int(1000 + self.u() * 99000):,}")
        else:
            out.append(self.pick(_COUNTS))

    def _percent(self) -> list[str]:
        value = f"{self.u() * 20:.1f}" if self.p(0.5) else str(int(1 + self.u() * 99))
        return [value, "%" if self.p(0.5) else "percent"]

    def person(self, out: list[str]) -> bool:
        """A person; returns True when named (so an apposition may follow)."""
        x = self.u()
        if x < 0.45:
            out += [self.zipf(_FIRST), self.zipf(_LAST)]
        elif x < 0.65:
            out += [self.pick(["Mr.", "Mrs.", "Ms.", "Dr."]), self.zipf(_LAST)]
        else:
            out += ["the", self.zipf(_ROLES)]
            if self.p(0.4):
                out += ["of", self.pick(_PLACES)]
            return False
        return True

    def np_(self, out: list[str]) -> bool:
        """A noun phrase; returns True when it is plural (for was/were agreement)."""
        x = self.u()
        if x < 0.12:
            self.person(out)
            return False
        if x < 0.22:
            out.append(self.zipf(_ORGS))
            return False
        if x < 0.3:
            if self.p(0.5):
                out.append(self.pick(_CURRENCY))
                self.number(out, digits=True)
            else:
                out += [*self._percent(), "of", "the", self.zipf(_PLURALS)]
            return True
        if x < 0.37:
            out += [self.zipf(_FIRST), "'s", self.zipf(_NOUNS)]
            return False
        plural = self.p(0.35)
        if plural:
            out.append(self.pick(["the", "the", "many", "some", "two", "several"]))
        adj = self.zipf(_ADJS) if self.p(0.45) else None
        noun = self.zipf(_PLURALS if plural else _NOUNS)
        if not plural:
            det = self.pick(["the", "the", "the", "a", "its", "their", "this"])
            if det == "a" and (adj or noun)[0] in _VOWELS:
                det = "an"
            out.append(det)
        if adj:
            out.append(adj)
        out.append(noun)
        if self.p(0.2):
            out += ["of", "the", self.zipf(_NOUNS)]
        if self.p(0.18):
            out += [",", "which" if self.p(0.6) else "that"]
            self.vp(out, plural, depth=1)
            out.append(",")
        return plural

    def pp(self, out: list[str]) -> None:
        out.append(self.zipf(_PREPS))
        if self.p(0.4):
            out.append(self.pick(_PLACES))
        else:
            self.np_(out)

    def vp(self, out: list[str], plural: bool, depth: int = 0) -> None:
        if self.p(0.15):
            out.append(self.pick(_ADVS))
        x = self.u()
        if x < 0.5:
            out.append(self.zipf(_TRANS))
            self.np_(out)
        elif x < 0.62:
            out.append(self.zipf(_INTRANS))
            if self.p(0.5):
                out += [self.pick(["by", "to"]), self.pick(["about", "nearly", "more than"])]
                out += self._percent()
        elif x < 0.77:
            out += ["were" if plural else "was", self.zipf(_TRANS), "by"]
            self.np_(out)
        elif x < 0.87:
            aux = self.pick(["did", "could", "would", "should", "does"])
            if plural and aux == "does":
                aux = "do"
            out += [aux, "n't", self.zipf(_BASE)]
            if self.p(0.5):
                self.np_(out)
        else:
            out += ["would", self.zipf(_BASE)]
            self.np_(out)
        if depth == 0:
            for _ in range(3):
                if not self.p(0.6):
                    break
                self.pp(out)
            if self.p(0.35):
                out.append(self.pick(_TIMES))

    def clause(self, out: list[str]) -> None:
        if self.p(0.25):
            word = self.pick(["he", "she", "they", "it", "we"])
            out.append(word)
            self.vp(out, word in ("they", "we"))
        else:
            self.vp(out, self.np_(out))

    def speaker(self, out: list[str]) -> None:
        if self.person(out) and self.p(0.4):
            out += [
                ",",
                self.pick(["a", "the"]),
                self.zipf(_ROLES),
                self.pick(["for", "at", "of"]),
                self.zipf(_ORGS),
                ",",
            ]

    def sentence(self) -> list[str]:
        out: list[str] = []
        x = self.u()
        if x < 0.45:
            if self.p(0.3):
                out += [self.pick(_INTROS), ","]
            self.clause(out)
        elif x < 0.62:
            out.append(_OPEN_Q)
            self.clause(out)
            out += [",", _CLOSE_Q]
            if self.p(0.5):
                out.append("said")
                self.speaker(out)
            else:
                self.speaker(out)
                out.append(self.pick(_SAYS))
        elif x < 0.77:
            self.speaker(out)
            out += ["said", "that"] if self.p(0.4) else ["said"]
            self.clause(out)
        elif x < 0.87:
            self.speaker(out)
            out += ["said", self.pick([",", ":"]), _OPEN_Q]
            self.clause(out)
            return _close(out, "." if self.p(0.8) else "?", _CLOSE_Q)
        else:
            self.clause(out)
            out += [",", self.pick(_CONJS)]
            self.clause(out)
        return _close(out, ".")


def _close(out: list[str], *end: str) -> list[str]:
    """End a sentence: drop the commas that closed relative clauses, then add ``end``."""
    while out[-1] == ",":
        out.pop()
    out += end
    return out


def detokenize(tokens: list[str]) -> str:
    """Join grammar tokens into a line as printed text: punctuation attached, first letters capitalised."""
    parts: list[str] = []
    capitalise = True
    prev = ""
    for tok in tokens:
        if tok == "," and prev == ",":
            continue  # a relative clause's closing comma met the comma of the next clause
        text = '"' if tok in (_OPEN_Q, _CLOSE_Q) else tok
        if capitalise:
            text = text[0].upper() + text[1:]
            capitalise = False
        if parts and tok not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
            parts.append(" ")
        parts.append(text)
        if tok == _OPEN_Q:
            capitalise = True
        prev = tok
    return "".join(parts)


def sentences(seed: int | np.random.SeedSequence, n: int) -> Iterable[str]:
    """Yield ``n`` synthetic sentences drawn from ``seed``."""
    grammar = Grammar(np.random.default_rng(seed))
    for _ in range(n):
        yield detokenize(grammar.sentence())


def write_lines(path: Path, lines: Iterable[str], gz: bool, chunk: int = 10_000) -> None:
    """Write lines atomically; gzip with mtime 0 and no file name so the bytes depend on the text alone."""
    with atomic_path(path) as tmp, open(tmp, "wb") as raw:
        # filename="" keeps the random temporary name out of the gzip header.
        opened = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) if gz else nullcontext(raw)
        )
        with opened as fh:
            buf: list[str] = []
            for line in lines:
                buf.append(line)
                if len(buf) == chunk:
                    fh.write(("\n".join(buf) + "\n").encode("utf-8"))
                    buf = []
            if buf:
                fh.write(("\n".join(buf) + "\n").encode("utf-8"))


def generate(out_dir: str | Path, seed: int, n_train: int, n_val: int, n_test: int) -> None:
    """Write train.txt.gz, val.txt and test.txt under ``out_dir``.

    Each split draws from its own child of the seed, so changing one split's size leaves
    the other splits' text unchanged.
    """
    out_dir = Path(out_dir)
    train_seed, val_seed, test_seed = np.random.SeedSequence(seed).spawn(3)
    write_lines(out_dir / "train.txt.gz", sentences(train_seed, n_train), gz=True)
    write_lines(out_dir / "val.txt", sentences(val_seed, n_val), gz=False)
    write_lines(out_dir / "test.txt", sentences(test_seed, n_test), gz=False)


def main(argv: list[str] | None = None) -> int:
    parser = corpus_parser("Generate synthetic WMT'14-style English news text.",
                           "folder for train.txt.gz, val.txt, test.txt", "in lines")
    args = parser.parse_args(argv)
    sizes = SyntheticSizes.from_args(args)
    generate(args.out_dir, sizes.seed, sizes.n_train, sizes.n_val, sizes.n_test)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
