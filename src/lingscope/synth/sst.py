"""Synthetic Stanford Sentiment Treebank in the published trainDevTestTrees_PTB format.

A compositional sentiment grammar writes ``train.txt``, ``dev.txt`` and ``test.txt``: one
binarised tree per line, every node labelled 0-4, e.g.
``(2 (2 it) (2 (2 's) (2 (2 not) (1 (2 a) (1 (1 bad) (2 film))))))``.

The grammar plants the phenomena Li et al. 2016 (Visualizing and Understanding Neural
Models in NLP, NAACL) look for in SST-trained models:

- graded lexical polarity (good +0.5, great +0.8, bad -0.5, awful -0.8, nouns and function
  words 0);
- intensifiers (very, incredibly, ...) that scale what they modify, so "very good" > "good";
- negation with the markedness asymmetry: "not bad" ends near neutral, "not good" clearly
  negative;
- concessive clauses where the dominant clause wins: in "X but Y" Y does, in "X though Y" and
  "although Y , X" X does (weights 0.8 / 0.2);
- the constructions of the paper's example phrases and sentences, so every word of its figures
  is in the lexicon: degree phrases that scale the verb ("i like it a lot", "so much"),
  excess ("too long" is negative whatever the adjective), neutral relative clauses ("the movie
  i saw last night") and neutral verbs with a polar object ("it had bad acting").

Sentences are drawn as token sequences and then parsed by :func:`compose`, so the bracketing
and values that tests check are the ones the generator writes. The same seed gives
byte-identical files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lingscope.core.errors import run_cli
from lingscope.synth.settings import SyntheticSizes
from lingscope.synth.cli import corpus_parser
from lingscope.core.io import write_text

CUT_POINTS = (-0.6, -0.2, 0.2, 0.6)
"""v <= -0.6 -> 0, v <= -0.2 -> 1, v < 0.2 -> 2, v < 0.6 -> 3, else 4."""
MAIN_WEIGHT = 0.8  # share of the dominant clause in a concessive
DEPENDENT_WEIGHT = 0.3  # share of a dependent (object, subject) next to a polar head
NEG_POSITIVE_BASE, NEG_POSITIVE_SLOPE = 0.25, 0.45  # "not good" -> -(0.25 + 0.45 * 0.5)
NEG_NEGATIVE_DAMPING = 0.3  # "not bad" -> -0.3 * -0.5 = 0.15


def _entries(spec: str) -> dict[str, float]:
    """``"good .5 great .8"`` -> ``{"good": 0.5, "great": 0.8}``."""
    it = iter(spec.split())
    return {word: float(value) for word, value in zip(it, it)}


POSITIVE_ADJ = _entries("""
    good .5 great .8 fine .3 nice .4 lovely .6 wonderful .8 excellent .85 brilliant .85 superb .9
    charming .5 funny .5 moving .6 beautiful .7 clever .5 engaging .5 entertaining .5 fresh .4
    solid .4 decent .3 enjoyable .5 gripping .6 touching .5 powerful .6 witty .5 smart .4
    interesting .4 compelling .6 delightful .7 amazing .85 fantastic .85 remarkable .7 stunning .8
    memorable .5 thoughtful .4 warm .4 fun .5 sweet .4 original .4 inventive .5 impressive .6
    satisfying .5 poignant .5 hilarious .7 elegant .5 intelligent .5 refreshing .5 exciting .6
    riveting .7 masterful .85 terrific .8 marvelous .8 likable .4 heartfelt .5 graceful .5 sharp .4
    affecting .5 vivid .4 rich .4 assured .4 tender .4 absorbing .5 luminous .7 wise .5
""")
NEGATIVE_ADJ = _entries("""
    bad -.5 awful -.8 terrible -.85 horrible -.85 dull -.5 boring -.6 thin -.3 weak -.4 poor -.5
    bland -.4 tedious -.6 clumsy -.4 silly -.3 stupid -.6 predictable -.35 lame -.5 mediocre -.4
    flat -.4 tired -.35 messy -.4 pointless -.6 painful -.7 dreadful -.8 unwatchable -.9
    forgettable -.4 annoying -.5 pretentious -.45 slow -.3 confusing -.4 shallow -.4 lifeless -.6
    sloppy -.5 cheap -.4 derivative -.4 incoherent -.6 lazy -.5 tiresome -.5 muddled -.4
    uninspired -.5 hollow -.4 trite -.4 bloated -.4 cliched -.4 ugly -.5 dumb -.5 worthless -.8
    atrocious -.9 embarrassing -.7 listless -.5 overlong -.3 grating -.5 joyless -.6 inept -.7
""")
NEUTRAL_ADJ = tuple("long short new old first french american british recent quiet big small entire latest".split())
NOUNS_SG = tuple("""
    movie film picture plot story script screenplay acting cast director dialogue ending pacing
    humor premise score soundtrack music cinematography camera editing direction sequel remake
    comedy drama thriller documentary romance tale adaptation debut lead star villain hero
    narrative structure tone mood atmosphere setting production scene climax finale twist writing
    material subject theme message concept idea style approach execution runtime version feature
    experience ride spectacle performance
""".split())
NOUNS_PL = tuple("performances characters actors effects visuals jokes scenes moments songs images".split())
POSITIVE_NOUNS = _entries("masterpiece .9 triumph .8 gem .7 delight .7 joy .7 treat .6 pleasure .6 winner .6 marvel .7")
NEGATIVE_NOUNS = _entries("""
    mess -.6 disaster -.85 failure -.7 bore -.6 waste -.7 letdown -.5 chore -.6 embarrassment -.8
    misfire -.5 dud -.6 slog -.6 travesty -.9
""")
VERBS = {  # transitive: base form -> (past form, polarity)
    base: (past, float(v))
    for base, past, v in zip(*[iter("""
    love loved .6 adore adored .8 like liked .4 enjoy enjoyed .5 admire admired .5 appreciate
    appreciated .4 recommend recommended .5 cherish cherished .7 hate hated -.7 loathe loathed -.8
    dislike disliked -.5 despise despised -.8 detest detested -.8 resent resented -.5 watch watched 0
    remember remembered 0 notice noticed 0 see saw 0 have had 0
""".split())] * 3)
}
VERB_POLARITY = {form: v for base, (past, v) in VERBS.items() for form in (base, past)}
INTENSIFIERS = _entries("""
    very 1.5 really 1.4 so 1.4 incredibly 1.7 extremely 1.8 truly 1.4 remarkably 1.5 genuinely 1.3
    thoroughly 1.6 utterly 1.7 deeply 1.5 quite 1.2 pretty 1.15 rather 1.1 fairly .8 somewhat .6
    slightly .5 mildly .5
""")
VERB_INTENSIFIERS = ("really", "truly", "genuinely", "thoroughly", "deeply", "utterly")
NEGATORS = ("not", "n't", "never")
COPULAS_SG = ("is", "was", "seems", "feels", "looks", "remains")
COPULAS_PL = ("are", "were", "seem", "feel", "look", "remain")
DETS_SG = ("the", "this", "that", "its", "the", "the")  # repeats weight the draw
DETS_PL = ("the", "these", "those", "its", "their")
PRONOUNS = ("i", "we", "you", "it")
TIME_NOUNS = ("night", "week", "year", "summer")  # "last night"
TIME_ADVERBS = ("yesterday", "recently", "once")
DEGREE_FACTORS = {"lot": 1.5, "much": 1.0}  # "a lot" x1.5; "so much" x INTENSIFIERS["so"]
EXCESS = 0.4  # "too long" -> -0.4; "too slow" -> -0.3 - 0.4
MAIN_RIGHT = ("but", "yet")  # "X but Y": Y dominates
MAIN_LEFT = ("though", "although", "while")  # "X though Y", "although Y , X": X dominates


def _lexicon() -> tuple[dict[str, str], dict[str, float]]:
    """Word -> grammatical category and word -> lexical polarity; each word in one category."""
    groups: list[tuple[str, Sequence[str] | dict[str, float]]] = [
        ("ADJ", POSITIVE_ADJ), ("ADJ", NEGATIVE_ADJ), ("ADJ", NEUTRAL_ADJ), ("NOUN", NOUNS_SG),
        ("NOUN", NOUNS_PL), ("NOUN", POSITIVE_NOUNS), ("NOUN", NEGATIVE_NOUNS), ("VERB", VERB_POLARITY),
        ("INT", tuple(INTENSIFIERS)), ("NEG", NEGATORS), ("COP", COPULAS_SG + COPULAS_PL + ("'s",)),
        ("AUX", ("do", "did")), ("DET", DETS_SG + DETS_PL + ("a", "an")), ("PRON", PRONOUNS),
        ("MAIN_RIGHT", MAIN_RIGHT), ("MAIN_LEFT", MAIN_LEFT), ("COMMA", (",",)), ("END", (".", "!")),
        ("LAST", ("last",)), ("TIME_N", TIME_NOUNS), ("TIME_ADV", TIME_ADVERBS), ("TOO", ("too",)),
        ("DEGREE", tuple(DEGREE_FACTORS)),
    ]
    category: dict[str, str] = {}
    polarity: dict[str, float] = {}
    for cat, words in groups:
        for word in words:
            if category.get(word, cat) != cat:
                raise ValueError(f"{word!r} is both {category[word]} and {cat}")
            category[word] = cat
            polarity[word] = words[word] if isinstance(words, dict) and cat != "INT" else 0.0
    return category, polarity


CATEGORY, POLARITY = _lexicon()


def label_of(value: float) -> int:
    """Map a real sentiment value in [-1, 1] to the SST label 0-4 via :data:`CUT_POINTS`."""
    very_neg, neg, pos, very_pos = CUT_POINTS
    if value <= very_neg:
        return 0
    if value <= neg:
        return 1
    if value < pos:
        return 2
    return 3 if value < very_pos else 4


def negate(value: float) -> float:
    """Negation with the markedness asymmetry Li et al. 2016 probe for.

    Negating a positive gives a clearly negative value ("not good" -> -0.475); negating a
    negative gives a weak value near neutral ("not bad" -> 0.15), never a strong positive.
    """
    if value > 0:
        # the ramp keeps near-neutral values near neutral instead of jumping to -0.25
        return -(NEG_POSITIVE_BASE + NEG_POSITIVE_SLOPE * value) * min(1.0, value / 0.2)
    return -NEG_NEGATIVE_DAMPING * value


def _clip(value: float) -> float:
    return max(-1.0, min(1.0, value))


@dataclass(frozen=True, slots=True)
class Tree:
    """A binary sentiment tree: a leaf has ``word``, an internal node exactly two children."""

    value: float
    word: str | None = None
    children: tuple[Tree, Tree] | None = None

    @property
    def label(self) -> int:
        return label_of(self.value)

    def leaves(self) -> list[str]:
        if self.children is None:
            return [self.word or ""]
        return self.children[0].leaves() + self.children[1].leaves()


def _join(op: str, left: Tree, right: Tree) -> Tree:
    """Internal node whose value composes its children's by ``op``."""
    l, r = left.value, right.value
    if op == "right":  # function word + phrase: the phrase carries the sentiment
        v = r
    elif op == "left":
        v = l
    elif op == "sum":  # modifier + head, e.g. "dull script"
        v = _clip(l + r)
    elif op == "intensify":
        v = _clip(r * INTENSIFIERS[left.word or ""])
    elif op == "negate":
        v = negate(r)
    elif op == "excess":  # "too" + adjective: too much of anything is bad
        v = _clip(min(r, 0.0) - EXCESS)
    elif op == "degree":  # "like it" + "a lot" / "so much": scales the verb phrase
        v = _clip(l * _degree_factor(right))
    elif op == "head_left":  # polar verb outweighs its object; a neutral one passes it through
        v = _clip(l + DEPENDENT_WEIGHT * r) if l else r
    elif op == "head_right":  # predicate outweighs its subject
        v = _clip(r + DEPENDENT_WEIGHT * l) if r else l
    elif op == "main_sub":  # "X though Y": X dominates
        v = MAIN_WEIGHT * l + (1 - MAIN_WEIGHT) * r
    elif op == "sub_main":  # "X but Y", "although Y , X": the right clause dominates
        v = (1 - MAIN_WEIGHT) * l + MAIN_WEIGHT * r
    else:
        raise ValueError(f"unknown composition {op!r}")
    return Tree(v, None, (left, right))


def _degree_factor(degree: Tree) -> float:
    """How much a degree phrase ("a lot", "so much", "very much") scales what it follows."""
    first, second = degree.leaves()
    factor = DEGREE_FACTORS[second]
    return factor * INTENSIFIERS[first] if first in INTENSIFIERS else factor


class _Parser:
    """Recursive descent over the grammar; each rule yields every (tree, next index) parse."""

    def __init__(self, tokens: Sequence[str]):
        unknown = [t for t in tokens if t not in CATEGORY]
        if unknown:
            raise ValueError(f"words not in the grammar's lexicon: {unknown}")
        self.tokens = list(tokens)
        self.cat = [CATEGORY[t] for t in tokens] + ["", ""]  # sentinels: no bounds checks

    def leaf(self, i: int) -> Tree:
        return Tree(POLARITY[self.tokens[i]], self.tokens[i])

    def adjp(self, i: int) -> Iterator[tuple[Tree, int]]:
        if self.cat[i] == "TOO" and self.cat[i + 1] == "ADJ":
            yield _join("excess", self.leaf(i), self.leaf(i + 1)), i + 2
        if self.cat[i] == "INT":
            for sub, j in self.adjp(i + 1):
                yield _join("intensify", self.leaf(i), sub), j
        elif self.cat[i] == "ADJ":
            yield self.leaf(i), i + 1

    def nom(self, i: int) -> Iterator[tuple[Tree, int]]:
        if self.cat[i] == "NOUN":
            yield self.leaf(i), i + 1
        for adj, j in self.adjp(i):
            for head, k in self.nom(j):
                yield _join("sum", adj, head), k

    def np(self, i: int) -> Iterator[tuple[Tree, int]]:
        if self.cat[i] == "DET":
            for nom, j in self.nom(i + 1):
                yield _join("right", self.leaf(i), nom), j
        yield from self.nom(i)

    def pred(self, i: int) -> Iterator[tuple[Tree, int]]:
        if self.cat[i] == "NEG":
            for sub, j in self.pred(i + 1):
                yield _join("negate", self.leaf(i), sub), j
        yield from self.adjp(i)
        yield from self.np(i)

    def time(self, i: int) -> Iterator[tuple[Tree, int]]:
        """"last night", "yesterday"."""
        if self.cat[i] == "LAST" and self.cat[i + 1] == "TIME_N":
            yield _join("right", self.leaf(i), self.leaf(i + 1)), i + 2
        elif self.cat[i] == "TIME_ADV":
            yield self.leaf(i), i + 1

    def relative(self, i: int) -> Iterator[tuple[Tree, int]]:
        """A neutral relative clause on an object: "(the movie) i saw last night"."""
        if self.cat[i] == "PRON" and self.tokens[i + 1:i + 2] and VERB_POLARITY.get(self.tokens[i + 1]) == 0:
            for when, j in self.time(i + 2):
                yield _join("right", self.leaf(i), _join("left", self.leaf(i + 1), when)), j

    def obj(self, i: int) -> Iterator[tuple[Tree, int]]:
        """An object: an NP, with or without a relative clause."""
        for np, j in self.np(i):
            yield np, j
            for rel, k in self.relative(j):
                yield _join("left", np, rel), k

    def degree(self, i: int) -> Iterator[tuple[Tree, int]]:
        """"a lot", "so much", "very much"."""
        if (self.tokens[i:i + 2] == ["a", "lot"]) or (self.cat[i] == "INT" and self.tokens[i + 1:i + 2] == ["much"]):
            yield _join("right", self.leaf(i), self.leaf(i + 1)), i + 2

    def verb_phrase(self, i: int) -> Iterator[tuple[Tree, int]]:
        """Transitive verb, possibly intensified ("really love"), and its object; or the verb
        with "it" and a degree phrase ("like it a lot")."""
        verbs: list[tuple[Tree, int]] = []
        if self.cat[i] == "VERB":
            verbs.append((self.leaf(i), i + 1))
        elif self.cat[i] == "INT" and self.cat[i + 1] == "VERB":
            verbs.append((_join("intensify", self.leaf(i), self.leaf(i + 1)), i + 2))
        for verb, j in verbs:
            if self.tokens[j:j + 1] == ["it"]:
                head = _join("head_left", verb, self.leaf(j))
                yield head, j + 1
                for deg, k in self.degree(j + 1):
                    yield _join("degree", head, deg), k
            for obj, k in self.obj(j):
                yield _join("head_left", verb, obj), k

    def vp(self, i: int) -> Iterator[tuple[Tree, int]]:
        c = self.cat
        if c[i] == "COP":
            for p, j in self.pred(i + 1):
                yield _join("right", self.leaf(i), p), j
        elif c[i] == "AUX" and c[i + 1] == "NEG":  # "do n't like the plot"
            for v, j in self.verb_phrase(i + 2):
                yield _join("right", self.leaf(i), _join("negate", self.leaf(i + 1), v)), j
        elif c[i] == "NEG":
            for v, j in self.verb_phrase(i + 1):
                yield _join("negate", self.leaf(i), v), j
        else:
            yield from self.verb_phrase(i)

    def clause(self, i: int) -> Iterator[tuple[Tree, int]]:
        subjects = [(self.leaf(i), i + 1)] if self.cat[i] == "PRON" else list(self.np(i))
        for subj, j in subjects:
            for vp, k in self.vp(j):
                yield _join("head_right", subj, vp), k

    def body(self, i: int) -> Iterator[tuple[Tree, int]]:
        c = self.cat
        if c[i] == "MAIN_LEFT":  # "although Y , X"
            for sub, j in self.clause(i + 1):
                if c[j] == "COMMA":
                    for main, k in self.clause(j + 1):
                        left = _join("right", self.leaf(i), sub)
                        yield _join("sub_main", left, _join("right", self.leaf(j), main)), k
        for first, j in self.clause(i):
            yield first, j
            comma = j if c[j] == "COMMA" else None
            k = j + (comma is not None)
            if c[k] in ("MAIN_RIGHT", "MAIN_LEFT"):
                op = "sub_main" if c[k] == "MAIN_RIGHT" else "main_sub"
                for second, m in self.clause(k + 1):
                    tail = _join("right", self.leaf(k), second)
                    if comma is not None:
                        tail = _join("right", self.leaf(comma), tail)
                    yield _join(op, first, tail), m
        yield from self.pred(i)  # fragments: "an incredibly dull script", "not bad"


def compose(tokens: str | Sequence[str]) -> Tree:
    """Bracket and evaluate a construction of the grammar: a sentence, clause, NP or AdjP.

    ``tokens`` is a list of words or one string split on whitespace, e.g. ``"not bad"`` or
    ``"i hate the movie though the plot is interesting ."``. A final ``.`` or ``!`` is its own
    leaf attached at the top. Raises ``ValueError`` for an unknown word or an ungrammatical
    sequence.
    """
    words = tokens.split() if isinstance(tokens, str) else list(tokens)
    parser = _Parser(words)
    n = len(words)
    for body, j in parser.body(0):
        if j == n:
            return body
        if j == n - 1 and parser.cat[j] == "END":
            return _join("left", body, parser.leaf(j))
    raise ValueError(f"not a construction of the grammar: {' '.join(words)!r}")


def format_tree(tree: Tree) -> str:
    """PTB-style s-expression as in trainDevTestTrees_PTB: ``(label word)`` or ``(label l r)``."""
    if tree.children is None:
        return f"({tree.label} {tree.word})"
    return f"({tree.label} {format_tree(tree.children[0])} {format_tree(tree.children[1])})"


_ADJ_POOLS = {1: tuple(POSITIVE_ADJ), -1: tuple(NEGATIVE_ADJ), 0: NEUTRAL_ADJ}
_VERB_POOLS = {
    sign: tuple((base, past) for base, (past, v) in VERBS.items() if (v > 0) - (v < 0) == sign) for sign in (1, -1, 0)
}
_NOUN_POOLS = {1: tuple(POSITIVE_NOUNS), -1: tuple(NEGATIVE_NOUNS)}
_INTENSIFIER_WORDS = tuple(INTENSIFIERS)
_BE = frozenset(("is", "was", "are", "were", "'s"))


class _Sampler:
    """Draws the token sequences of the grammar from a numpy Generator."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def p(self, prob: float) -> bool:
        return bool(self.rng.random() < prob)

    def pick(self, seq: Sequence):
        return seq[int(self.rng.random() * len(seq))]

    def adjp(self, sign: int) -> list[str]:
        if sign < 0 and self.p(0.08):  # "too long"
            return ["too", self.pick(NEUTRAL_ADJ)]
        words = [self.pick(_ADJ_POOLS[sign])]
        if sign and self.p(0.35):
            words.insert(0, self.pick(_INTENSIFIER_WORDS))
        return words

    def definite_np(self, sign: int, adj_prob: float) -> tuple[list[str], bool]:
        plural = self.p(0.25)
        words = [self.pick(NOUNS_PL if plural else NOUNS_SG)]
        if self.p(adj_prob):
            words = self.adjp(sign) + words
        return [self.pick(DETS_PL if plural else DETS_SG)] + words, plural

    def indefinite_np(self, sign: int) -> list[str]:
        if sign and self.p(0.3):
            words = [self.pick(_NOUN_POOLS[sign])]
        else:
            words = self.adjp(sign) + [self.pick(NOUNS_SG)]
        return ["an" if words[0][0] in "aeiou" else "a"] + words

    def pred(self, sign: int, plural: bool) -> list[str]:
        return self.adjp(sign) if plural or self.p(0.55) else self.indefinite_np(sign)

    def clause(self, sign: int) -> list[str]:
        r = self.rng.random()
        if r < 0.65:  # copular: "the movie is very good", "it 's not a bad film"
            if r < 0.45:
                subject, plural = self.definite_np(self.pick((1, -1, 0)), adj_prob=0.15)
                cop = self.pick(COPULAS_PL if plural else COPULAS_SG)
            else:
                subject, plural, cop = ["it"], False, self.pick(("'s", "is", "was"))
            neg = []
            if cop in _BE and self.p(0.3):  # "feels n't" is not English
                neg = ["not" if cop == "'s" or self.p(0.5) else "n't"]
            return subject + [cop] + neg + self.pred(sign, plural)
        if sign and self.p(0.2):  # a neutral verb with a polar object: "it had bad acting"
            base, past = self.pick(_VERB_POOLS[0])
            subject = [self.pick(PRONOUNS)]
            obj = self.adjp(sign) + [self.pick(NOUNS_SG)]
            if self.p(0.5):
                obj = [self.pick(DETS_SG[:3])] + obj
            return subject + [self.pick((base, past))] + obj
        base, past = self.pick(_VERB_POOLS[sign])
        subject = [self.pick(PRONOUNS[:3])]
        if sign and self.p(0.15):  # "i like it a lot", "we hate it so much"
            degree = ["a", "lot"] if self.p(0.4) else [self.pick(("so", "very", "really")), "much"]
            return subject + [self.pick((base, past)), "it"] + degree
        obj, _ = self.definite_np(0, adj_prob=0.15)
        if self.p(0.12):  # "the movie i saw last night"
            when = ["last", self.pick(TIME_NOUNS)] if self.p(0.6) else [self.pick(TIME_ADVERBS)]
            obj += [self.pick(PRONOUNS[:3]), self.pick(("saw", "watched", "had"))] + when
        r = self.rng.random()
        if r < 0.2:  # "i do n't like the plot"
            return subject + [self.pick(("do", "did")), self.pick(("n't", "not")), base] + obj
        if r < 0.28:
            return subject + ["never", past] + obj
        verb = [self.pick((base, past))]
        if sign and self.p(0.25):
            verb.insert(0, self.pick(VERB_INTENSIFIERS))
        return subject + verb + obj

    def sentence(self) -> list[str]:
        sign = self.pick((1, 1, -1, -1, 0))
        r = self.rng.random()
        if r < 0.55:
            body = self.clause(sign)
        elif r < 0.87:  # concessives, mostly with clauses of opposite polarity
            other = (-sign if self.p(0.7) else sign) or self.pick((1, -1))
            first, second = self.clause(sign), self.clause(other)
            comma = [","] if self.p(0.5) else []
            form = self.rng.random()
            if form < 0.35:
                body = first + comma + [self.pick(MAIN_RIGHT)] + second
            elif form < 0.7:
                body = first + comma + [self.pick(MAIN_LEFT)] + second
            else:
                body = [self.pick(MAIN_LEFT)] + second + [","] + first
        else:
            sign = sign or self.pick((1, -1))
            body = self.indefinite_np(sign) if self.p(0.7) else ["not"] + self.adjp(sign)
            if self.p(0.5):
                return body
        return body + ["." if self.p(0.92) else "!"]


def generate_split(seed: np.random.SeedSequence, n: int, seen: set[str]) -> list[str]:
    """``n`` formatted trees whose sentences are not in ``seen`` (which is updated).

    After a bounded number of redraws a duplicate is accepted, so huge ``n`` cannot hang.
    """
    sampler = _Sampler(np.random.default_rng(seed))
    lines = []
    for _ in range(n):
        for _attempt in range(50):
            words = sampler.sentence()
            key = " ".join(words)
            if key not in seen:
                break
        seen.add(key)
        lines.append(format_tree(compose(words)))
    return lines


def generate(out_dir: str | Path, seed: int, n_train: int, n_val: int, n_test: int) -> None:
    """Write train.txt, dev.txt and test.txt under ``out_dir``.

    Each split draws from its own child of the seed; sentences are unique across splits
    (train first, then dev, then test), as in the real SST.
    """
    out_dir = Path(out_dir)
    seen: set[str] = set()
    children = np.random.SeedSequence(seed).spawn(3)
    for (name, n), child in zip((("train.txt", n_train), ("dev.txt", n_val), ("test.txt", n_test)), children):
        write_text(out_dir / name, "\n".join(generate_split(child, n, seen)) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = corpus_parser("Generate a synthetic SST in the trainDevTestTrees_PTB format.",
                           "folder for train.txt, dev.txt, test.txt", "in sentences (SST: 8544 / 1101 / 2210)")
    args = parser.parse_args(argv)
    sizes = SyntheticSizes.from_args(args)
    generate(args.out_dir, sizes.seed, sizes.n_train, sizes.n_val, sizes.n_test)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
