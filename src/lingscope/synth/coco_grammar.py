"""Scenes and captions with gold dependency trees, for the synthetic MSCOCO corpus.

A scene (issue 2, §3) holds 1–3 objects, each with an optional attribute, count and
compound modifier, plus an action and a place. Captions are built from typed phrases whose
tokens carry their gold PTB tag and the ClearNLP/Stanford label that spaCy's English models
emit (``det``, ``amod``, ``nsubj``, ``aux``, ``acl``, ``dobj``, ``prep``, ``pobj``,
``expl``, ``attr``, ``nsubjpass``, ``auxpass``, ``agent``, ``cc``, ``conj``, ``compound``,
``poss``, ``case``, ``nummod``), so the parser can be scored against them. The constructions
follow Kádár et al. 2017, §5, Fig. 1: progressive, reduced relative, existential, passive,
coordination, compounds, possessives and numerals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# --- lexicon -------------------------------------------------------------------------------
# Objects: singular, plural, kind. Kinds decide which actions an object can do or undergo.
AGENTS: dict[str, tuple[str, str]] = {
    "man": ("men", "human"), "woman": ("women", "human"), "boy": ("boys", "human"),
    "girl": ("girls", "human"), "child": ("children", "human"), "person": ("people", "human"),
    "player": ("players", "human"), "skier": ("skiers", "human"), "surfer": ("surfers", "human"),
    "dog": ("dogs", "animal"), "cat": ("cats", "animal"), "horse": ("horses", "grazer"),
    "cow": ("cows", "grazer"), "sheep": ("sheep", "grazer"), "elephant": ("elephants", "grazer"),
    "giraffe": ("giraffes", "grazer"), "zebra": ("zebras", "grazer"), "bear": ("bears", "animal"),
    "bird": ("birds", "bird"), "duck": ("ducks", "bird"), "baby": ("babies", "grazer"),
}
THINGS: dict[str, str] = {
    "frisbee": "frisbees", "kite": "kites", "ball": "balls", "umbrella": "umbrellas",
    "pizza": "pizzas", "cake": "cakes", "sandwich": "sandwiches", "banana": "bananas",
    "bicycle": "bicycles", "skateboard": "skateboards", "surfboard": "surfboards",
    "bottle": "bottles", "racket": "rackets", "bag": "bags", "phone": "phones",
    "motorcycle": "motorcycles", "grass": "grass", "wave": "waves", "fountain": "fountains",
    "bus": "buses", "truck": "trucks", "sign": "signs", "bench": "benches",
}
# Compound modifiers that change what the object looks like ("a water bottle").
MODIFIERS: dict[str, list[str]] = {
    "bottle": ["water", "wine", "beer"], "ball": ["tennis", "soccer"], "cake": ["birthday", "chocolate"],
    "bus": ["school", "city"], "truck": ["fire", "garbage"], "sign": ["stop", "street"],
    "fountain": ["water"], "player": ["tennis", "baseball", "soccer"], "racket": ["tennis"],
    "bag": ["shopping"], "bear": ["teddy"],
}
ATTRIBUTES: dict[str, list[str]] = {
    "human": ["young", "old", "little", "happy"],
    "animal": ["black", "white", "brown", "small", "large"],
    "grazer": ["brown", "white", "large", "small", "spotted"],
    "bird": ["white", "black", "small", "large"],
    "thing": ["red", "blue", "green", "yellow", "white", "black", "large", "small"],
}
COUNT_WORDS = {2: "two", 3: "three", 4: "four"}

# Actions: (base, 3sg, -ing, past participle, kinds that can do it, patients or None).
ACTIONS: dict[str, tuple[str, str, str, str, tuple[str, ...], tuple[str, ...] | None]] = {
    "stand": ("stand", "stands", "standing", "stood", ("human", "animal", "grazer", "bird"), None),
    "sit": ("sit", "sits", "sitting", "sat", ("human", "animal", "bird"), None),
    "walk": ("walk", "walks", "walking", "walked", ("human", "animal", "grazer", "bird"), None),
    "run": ("run", "runs", "running", "run", ("human", "animal", "grazer"), None),
    "sleep": ("sleep", "sleeps", "sleeping", "slept", ("human", "animal"), None),
    "graze": ("graze", "grazes", "grazing", "grazed", ("grazer",), None),
    "swim": ("swim", "swims", "swimming", "swum", ("human", "animal", "bird"), None),
    "wait": ("wait", "waits", "waiting", "waited", ("human",), None),
    "ride": ("ride", "rides", "riding", "ridden", ("human",),
             ("horse", "elephant", "bicycle", "skateboard", "surfboard", "motorcycle", "wave", "bus")),
    "hold": ("hold", "holds", "holding", "held", ("human",),
             ("umbrella", "kite", "bottle", "phone", "racket", "bag", "banana", "frisbee", "ball")),
    "eat": ("eat", "eats", "eating", "eaten", ("human", "animal", "grazer"),
            ("pizza", "cake", "sandwich", "banana", "grass")),
    "carry": ("carry", "carries", "carrying", "carried", ("human", "animal"),
              ("bag", "surfboard", "umbrella", "frisbee", "ball", "skateboard")),
    "fly": ("fly", "flies", "flying", "flown", ("human",), ("kite",)),
    "throw": ("throw", "throws", "throwing", "thrown", ("human",), ("frisbee", "ball")),
    "catch": ("catch", "catches", "catching", "caught", ("human", "animal"), ("frisbee", "ball")),
    "chase": ("chase", "chases", "chasing", "chased", ("animal", "human"), ("ball", "bird", "cat", "dog")),
    "pull": ("pull", "pulls", "pulling", "pulled", ("grazer", "human"), ("truck", "bus", "bag")),
    "watch": ("watch", "watches", "watching", "watched", ("human", "animal"), ("bus", "truck", "bird", "dog")),
}
# Places: noun, the prepositions it takes, adjectives that describe it.
PLACES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "beach": (("on", "at"), ("sandy",)), "park": (("in", "at"), ("green",)),
    "field": (("in",), ("grassy", "green")), "street": (("on", "down"), ("busy", "wet")),
    "road": (("on", "near"), ("dirt",)), "kitchen": (("in",), ("small",)),
    "table": (("on", "at"), ("wooden",)), "snow": (("in",), ()),
    "river": (("near", "by"), ()), "zoo": (("at", "in"), ()), "yard": (("in",), ("fenced",)),
    "ocean": (("in", "near"), ("blue",)), "hill": (("on",), ("snowy", "grassy")),
    "court": (("on",), ()), "sidewalk": (("on",), ()), "city": (("in",), ("busy",)),
    "room": (("in",), ("living",)), "forest": (("in",), ()),
}

PLACE_ADJECTIVES = sorted({a for _, adjs in PLACES.values() for a in adjs} - {"dirt", "living"})
# "dirt road" and "living room" are compounds in spaCy's analysis, not adjectives.
PLACE_COMPOUNDS = {"dirt", "living"}

FEMALE, MALE = {"woman", "girl"}, {"man", "boy"}
# What each kind eats; "eat" lists the union as its patients.
DIET = {"grazer": ("grass",), "animal": ("pizza", "cake", "sandwich"),
        "human": ("pizza", "cake", "sandwich", "banana")}


def possessive_pronoun(owner: "SceneObject") -> str:
    """The pronoun that agrees with its owner: "a man and his dog", "two cows and their calf"."""
    if owner.count > 1:
        return "their"
    if kind_of(owner.noun) != "human":
        return "its"
    return "her" if owner.noun in FEMALE else "his" if owner.noun in MALE else "their"


def kind_of(noun: str) -> str:
    return AGENTS[noun][1] if noun in AGENTS else "thing"


def plural_of(noun: str) -> str:
    return AGENTS[noun][0] if noun in AGENTS else THINGS[noun]


# --- scenes ---------------------------------------------------------------------------------
@dataclass
class SceneObject:
    noun: str
    count: int = 1
    attribute: str | None = None
    modifier: str | None = None


@dataclass
class Scene:
    agent: SceneObject
    action: str
    place: str
    patient: SceneObject | None = None
    companion: SceneObject | None = None
    place_adjective: str | None = None

    def objects(self) -> list[SceneObject]:
        return [o for o in (self.agent, self.patient, self.companion) if o is not None]


def _object(rng: np.random.Generator, noun: str, p_attr: float, counts=(0.6, 0.25, 0.1, 0.05)) -> SceneObject:
    kind = kind_of(noun)
    count = int(rng.choice([1, 2, 3, 4], p=counts)) if noun != "grass" else 1
    attribute = str(rng.choice(ATTRIBUTES[kind])) if rng.random() < p_attr and noun != "grass" else None
    modifier = None
    if noun in MODIFIERS and rng.random() < 0.6:
        modifier = str(rng.choice(MODIFIERS[noun]))
    return SceneObject(noun, count, attribute, modifier)


def sample_scene(rng: np.random.Generator) -> Scene:
    """Draw one scene: 1–3 objects, an action the agent can do, and a place."""
    n_objects = int(rng.choice([1, 2, 3], p=[0.4, 0.42, 0.18]))
    agent_noun = str(rng.choice(sorted(AGENTS)))
    agent = _object(rng, agent_noun, p_attr=0.55)
    kind = kind_of(agent_noun)
    able = sorted(a for a, spec in ACTIONS.items() if kind in spec[4])
    transitive = [a for a in able if ACTIONS[a][5]]
    intransitive = [a for a in able if not ACTIONS[a][5]]
    want_patient = n_objects >= 2 and transitive and (n_objects == 3 or rng.random() < 0.7)
    action = str(rng.choice(transitive if want_patient else intransitive))
    patient = None
    if want_patient:
        choices = [p for p in ACTIONS[action][5] if p != agent_noun]
        if action == "eat":
            choices = list(DIET[kind])
        patient = _object(rng, str(rng.choice(choices)), p_attr=0.35, counts=(0.8, 0.15, 0.05, 0.0))
    companion = None
    if n_objects == 3 or (n_objects == 2 and patient is None):
        same_kind = sorted(n for n in AGENTS if kind_of(n) == kind and n != agent_noun)
        companion = _object(rng, str(rng.choice(same_kind)), p_attr=0.4, counts=(0.85, 0.15, 0.0, 0.0))
    place = str(rng.choice(sorted(PLACES)))
    adjectives = PLACES[place][1]
    place_adjective = str(rng.choice(adjectives)) if adjectives and rng.random() < 0.4 else None
    return Scene(agent, action, place, patient, companion, place_adjective)


# --- trees ----------------------------------------------------------------------------------
@dataclass(eq=False)
class Tok:
    """A token of a gold tree; ``head`` points at another Tok (None for the root)."""

    form: str
    xpos: str
    lemma: str
    deprel: str = "root"
    head: Tok | None = None


@dataclass
class Phrase:
    toks: list[Tok]
    head: Tok
    plural: bool = False
    extra: dict = field(default_factory=dict)


def attach(phrase: Phrase, head: Tok | None, deprel: str) -> Phrase:
    phrase.head.head, phrase.head.deprel = head, deprel
    return phrase


def _a_or_an(next_word: str) -> str:
    return "an" if next_word[0] in "aeiou" else "a"


def noun_phrase(rng: np.random.Generator, obj: SceneObject, owner: SceneObject | None = None,
                definite: bool = False, show_attribute: bool = True) -> Phrase:
    """[det | numeral | possessive] [attribute] [compound] noun, with gold arcs."""
    plural = obj.count > 1
    noun_form = plural_of(obj.noun) if plural else obj.noun
    mass = obj.noun == "grass"
    noun = Tok(noun_form, "NNS" if plural and not mass else "NN", obj.noun)
    pre: list[Tok] = []
    if obj.attribute and show_attribute:
        pre.append(Tok(obj.attribute, "JJ", obj.attribute, "amod", noun))
    if obj.modifier:
        pre.append(Tok(obj.modifier, "NN", obj.modifier, "compound", noun))
    first_word = pre[0].form if pre else noun_form
    spec: list[Tok] = []
    if owner is not None and rng.random() < 0.6:
        pronoun = possessive_pronoun(owner)
        spec.append(Tok(pronoun, "PRP$", pronoun, "poss", noun))
        if plural:
            spec.append(Tok(COUNT_WORDS[obj.count], "CD", COUNT_WORDS[obj.count], "nummod", noun))
    elif mass:
        if rng.random() < 0.5:
            spec.append(Tok("some", "DT", "some", "det", noun))
    elif plural:
        word = COUNT_WORDS[obj.count]
        if obj.count >= 3 and rng.random() < 0.25:
            spec.append(Tok("several", "JJ", "several", "amod", noun))
        elif definite and rng.random() < 0.5:
            spec += [Tok("the", "DT", "the", "det", noun), Tok(word, "CD", word, "nummod", noun)]
        else:
            spec.append(Tok(word, "CD", word, "nummod", noun))
    else:
        det = "the" if definite else _a_or_an(first_word)
        spec.append(Tok(det, "DT", det, "det", noun))
    return Phrase(spec + pre + [noun], noun, plural)


def possessive_np(rng: np.random.Generator, owner: SceneObject, owned: SceneObject) -> Phrase:
    """ "a woman 's umbrella": owner --poss--> owned, 's --case--> owner."""
    owned_np = noun_phrase(rng, owned, definite=True)
    owned_np.toks = [t for t in owned_np.toks if t.deprel not in ("det", "poss")]
    owner_np = noun_phrase(rng, SceneObject(owner.noun, 1, owner.attribute, owner.modifier))
    attach(owner_np, owned_np.head, "poss")
    case = Tok("'s", "POS", "'s", "case", owner_np.head)
    return Phrase(owner_np.toks + [case] + owned_np.toks, owned_np.head, owned_np.plural)


def place_pp(rng: np.random.Generator, place: str, adj: str | None) -> Phrase:
    """ "on the sandy beach": prep --pobj--> place noun."""
    prep_word = str(rng.choice(PLACES[place][0]))
    prep = Tok(prep_word, "IN", prep_word, "prep")
    noun = Tok(place, "NN", place, "pobj", prep)
    pre: list[Tok] = []
    if adj:
        pre.append(Tok(adj, "NN" if adj in PLACE_COMPOUNDS else "JJ", adj,
                       "compound" if adj in PLACE_COMPOUNDS else "amod", noun))
    first = pre[0].form if pre else place
    det = "the" if rng.random() < 0.5 or place in ("snow",) else _a_or_an(first)
    toks = [prep] if place == "snow" and rng.random() < 0.5 else [prep, Tok(det, "DT", det, "det", noun)]
    return Phrase(toks + pre + [noun], prep)


def verb(action: str, form: str) -> Tok:
    base, third, ing, pastpart = ACTIONS[action][:4]
    word, tag = {"VB": base, "VBP": base, "VBZ": third, "VBG": ing, "VBN": pastpart}[form], form
    return Tok(word, tag, base)


def be(plural: bool, deprel: str, head: Tok | None) -> Tok:
    return Tok("are", "VBP", "be", deprel, head) if plural else Tok("is", "VBZ", "be", deprel, head)


# --- captions -------------------------------------------------------------------------------
class Caption:
    """Assemble phrases left to right; ``tokens()`` resolves head pointers to positions."""

    def __init__(self) -> None:
        self.toks: list[Tok] = []

    def add(self, *items: Tok | Phrase) -> None:
        for item in items:
            self.toks.extend(item.toks if isinstance(item, Phrase) else [item])

    def rows(self) -> list[tuple[str, str, str, int, str]]:
        """(form, xpos, lemma, head position, deprel) per token; positions count from 1."""
        index = {id(t): i + 1 for i, t in enumerate(self.toks)}
        roots = [t for t in self.toks if t.head is None]
        if len(roots) != 1:
            raise RuntimeError(f"caption {[t.form for t in self.toks]} has {len(roots)} roots")
        return [(t.form, t.xpos, t.lemma, 0 if t.head is None else index[id(t.head)], t.deprel)
                for t in self.toks]


def _subject(rng, scene: Scene, with_companion: bool, show_attr: bool) -> Phrase:
    """The agent, or "A and (its) C" when the companion is mentioned (coordination)."""
    subj = noun_phrase(rng, scene.agent, show_attribute=show_attr)
    if with_companion and scene.companion is not None:
        cc = Tok("and", "CC", "and", "cc", subj.head)
        comp = attach(noun_phrase(rng, scene.companion, owner=scene.agent,
                                  show_attribute=show_attr), subj.head, "conj")
        return Phrase(subj.toks + [cc] + comp.toks, subj.head, plural=True)
    return subj


def _rest(rng, scene: Scene, v: Tok, show_place: bool, show_attr: bool) -> list[Phrase]:
    """Object and place after a verb: [dobj] [prep pobj]."""
    out = []
    if scene.patient is not None:
        owner = scene.agent if kind_of(scene.patient.noun) != "thing" else None
        out.append(attach(noun_phrase(rng, scene.patient, owner=owner, show_attribute=show_attr), v, "dobj"))
    if show_place:
        out.append(attach(place_pp(rng, scene.place, scene.place_adjective), v, "prep"))
    return out


def progressive(rng, scene, show_place, show_attr, companion):
    """ "a black dog is running on the beach" """
    c, subj = Caption(), _subject(rng, scene, companion, show_attr)
    v = verb(scene.action, "VBG")
    c.add(attach(subj, v, "nsubj"), be(subj.plural, "aux", v), v, *_rest(rng, scene, v, show_place, show_attr))
    return c


def reduced_relative(rng, scene, show_place, show_attr, companion):
    """ "two men riding horses near a river", "a cow and its baby eating grass" """
    c, subj = Caption(), _subject(rng, scene, companion, show_attr)
    v = verb(scene.action, "VBG")
    v.head, v.deprel = subj.head, "acl"
    c.add(subj, v, *_rest(rng, scene, v, show_place, show_attr))
    return c


def existential(rng, scene, show_place, show_attr, companion):
    """ "there are two giraffes standing in a field" """
    c, subj = Caption(), _subject(rng, scene, companion, show_attr)
    cop = be(subj.plural, "root", None)
    v = verb(scene.action, "VBG")
    v.head, v.deprel = subj.head, "acl"
    c.add(Tok("there", "EX", "there", "expl", cop), cop, attach(subj, cop, "attr"), v,
          *_rest(rng, scene, v, show_place, show_attr))
    return c


def simple_present(rng, scene, show_place, show_attr, companion):
    """ "a dog catches a frisbee in the park" """
    c, subj = Caption(), _subject(rng, scene, companion, show_attr)
    v = verb(scene.action, "VBP" if subj.plural else "VBZ")
    c.add(attach(subj, v, "nsubj"), v, *_rest(rng, scene, v, show_place, show_attr))
    return c


def photo_of(rng, scene, show_place, show_attr, companion):
    """ "a picture of a man holding an umbrella" """
    c, subj = Caption(), _subject(rng, scene, companion, show_attr)
    word = str(rng.choice(["picture", "photo", "view"]))
    head = Tok(word, "NN", word)
    of = Tok("of", "IN", "of", "prep", head)
    v = verb(scene.action, "VBG")
    v.head, v.deprel = subj.head, "acl"
    c.add(Tok("a", "DT", "a", "det", head), head, of, attach(subj, of, "pobj"), v,
          *_rest(rng, scene, v, show_place, show_attr))
    return c


def _by_agent(rng, scene: Scene, v: Tok, show_place: bool, show_attr: bool, companion: bool) -> list:
    """The passive's tail: "by" --agent--> v, the agent as its pobj, then the place."""
    by = Tok("by", "IN", "by", "agent", v)
    out = [by, attach(_subject(rng, scene, companion, show_attr), by, "pobj")]
    if show_place:
        out.append(attach(place_pp(rng, scene.place, scene.place_adjective), v, "prep"))
    return out


def passive(rng, scene, show_place, show_attr, companion):
    """ "a frisbee is being caught by a dog on the beach" """
    c = Caption()
    patient = noun_phrase(rng, scene.patient, show_attribute=show_attr)
    v = verb(scene.action, "VBN")
    c.add(attach(patient, v, "nsubjpass"), be(patient.plural, "aux", v), Tok("being", "VBG", "be", "auxpass", v),
          v, *_by_agent(rng, scene, v, show_place, show_attr, companion))
    return c


def reduced_passive(rng, scene, show_place, show_attr, companion):
    """ "a kite being flown by a young boy" """
    c = Caption()
    patient = noun_phrase(rng, scene.patient, show_attribute=show_attr)
    v = verb(scene.action, "VBN")
    v.head, v.deprel = patient.head, "acl"
    c.add(patient, Tok("being", "VBG", "be", "auxpass", v), v, *_by_agent(rng, scene, v, show_place, show_attr, companion))
    return c


def with_phrase(rng, scene, show_place, show_attr, companion):
    """ "a man with his dog on a busy street" (no verb: the action goes unmentioned) """
    c = Caption()
    head_np = noun_phrase(rng, scene.agent, show_attribute=show_attr)
    other = scene.patient if scene.patient is not None else scene.companion
    with_ = Tok("with", "IN", "with", "prep", head_np.head)
    owner = scene.agent if kind_of(other.noun) != "thing" or rng.random() < 0.3 else None
    c.add(head_np, with_, attach(noun_phrase(rng, other, owner=owner, show_attribute=show_attr), with_, "pobj"))
    if show_place:
        c.add(attach(place_pp(rng, scene.place, scene.place_adjective), head_np.head, "prep"))
    return c


def possessive(rng, scene, show_place, show_attr, companion):
    """ "a woman 's umbrella on a busy street" """
    c = Caption()
    owner = SceneObject(scene.agent.noun, 1, scene.agent.attribute if show_attr else None, scene.agent.modifier)
    np_ = possessive_np(rng, owner, scene.patient)
    c.add(np_, attach(place_pp(rng, scene.place, scene.place_adjective), np_.head, "prep"))
    return c


TEMPLATES = {
    "progressive": progressive, "reduced_relative": reduced_relative, "existential": existential,
    "simple_present": simple_present, "photo_of": photo_of, "passive": passive,
    "reduced_passive": reduced_passive, "with": with_phrase, "possessive": possessive,
}


def applicable_templates(scene: Scene) -> list[str]:
    names = ["progressive", "reduced_relative", "existential", "simple_present", "photo_of"]
    if scene.patient is not None:
        names += ["passive", "reduced_passive", "with"]
        if scene.agent.count == 1 and kind_of(scene.patient.noun) == "thing" and scene.patient.noun != "grass":
            names.append("possessive")
    elif scene.companion is not None:
        names.append("with")
    return names


def captions_for(rng: np.random.Generator, scene: Scene, n: int = 5) -> list[tuple[str, Caption]]:
    """``n`` captions of one scene, from distinct constructions where there are enough."""
    names = applicable_templates(scene)
    chosen = list(rng.choice(names, size=n, replace=len(names) < n))
    out = []
    for name in chosen:
        show_place = rng.random() < 0.85
        show_attr = rng.random() < 0.8
        companion = scene.companion is not None and rng.random() < 0.8
        out.append((str(name), TEMPLATES[str(name)](rng, scene, show_place, show_attr, companion)))
    return out


def raw_text(forms: list[str]) -> str:
    """Karpathy's ``raw``: the caption as a person typed it."""
    text = " ".join(forms).replace(" 's", "'s")
    return text[0].upper() + text[1:] + "."
