"""Interpretability methods, one module each (activation dumps, omission scores, retrieval examples).

A method talks to a model only through the contract of :mod:`lingscope.models.base` and reads
which networks it applies to from :mod:`lingscope.core.catalog`; it never names a model family
and never writes a token id as a number.
"""
