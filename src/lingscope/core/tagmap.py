"""Penn Treebank tag → Universal POS.

spaCy's attribute_ruler does this mapping, but it costs a pipeline component; we exclude it
for speed (issue 2, §5) and map the tagger's PTB output ourselves. The table follows the
UD English conversion of the PTB tag set; tags it does not list map to ``X``.
"""

from __future__ import annotations

PTB_TO_UPOS: dict[str, str] = {
    "CC": "CCONJ", "CD": "NUM", "DT": "DET", "EX": "PRON", "FW": "X", "IN": "ADP",
    "JJ": "ADJ", "JJR": "ADJ", "JJS": "ADJ", "LS": "X", "MD": "AUX", "NN": "NOUN",
    "NNS": "NOUN", "NNP": "PROPN", "NNPS": "PROPN", "PDT": "DET", "POS": "PART",
    "PRP": "PRON", "PRP$": "PRON", "RB": "ADV", "RBR": "ADV", "RBS": "ADV", "RP": "ADP",
    "SYM": "SYM", "TO": "PART", "UH": "INTJ", "VB": "VERB", "VBD": "VERB", "VBG": "VERB",
    "VBN": "VERB", "VBP": "VERB", "VBZ": "VERB", "WDT": "PRON", "WP": "PRON",
    "WP$": "PRON", "WRB": "ADV", "HYPH": "PUNCT", "NFP": "PUNCT", "-LRB-": "PUNCT",
    "-RRB-": "PUNCT", ",": "PUNCT", ".": "PUNCT", ":": "PUNCT", "``": "PUNCT",
    "''": "PUNCT", '"': "PUNCT", "$": "SYM", "#": "SYM", "AFX": "ADJ", "ADD": "X",
    "XX": "X", "_SP": "SPACE",
}

# Forms of "be", "have" and "do" that the PTB tags as verbs but UD treats as auxiliaries
# when they carry an auxiliary arc.
_AUX_DEPRELS = {"aux", "auxpass", "aux:pass", "cop"}


def ptb_to_upos(xpos: str, deprel: str | None = None) -> str:
    """Map one PTB tag to UPOS; a verb on an auxiliary arc becomes ``AUX`` as in UD."""
    upos = PTB_TO_UPOS.get(xpos, "X")
    if upos == "VERB" and deprel in _AUX_DEPRELS:
        return "AUX"
    return upos


# The Penn Treebank's escapes for brackets (and for "/" and "*" in its older releases). The
# Stanford Sentiment Treebank's trees carry them: "(" is the token -LRB-. A parser reads
# -LRB- as a word (spaCy tags it NNP and attaches it as a compound), so the parse sees the
# characters; the tokens, the vocabulary and the models keep the treebank's forms.
PTB_ESCAPES: dict[str, str] = {
    "-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}",
}


def unescape_ptb(token: str) -> str:
    """The character a PTB escape stands for (``-LRB-`` → ``(``, ``\\/`` → ``/``); other tokens unchanged."""
    if token in PTB_ESCAPES:
        return PTB_ESCAPES[token]
    if "\\" in token:
        return token.replace("\\/", "/").replace("\\*", "*")
    return token
