"""Analyses of omission scores and training runs (Kadar et al. 2017, sec. 5); no torch here.

Each entry module (``distributions``, ``ridge``, ``examples``, ``training_summary``) reads the
Parquet tables of the earlier stages and writes its own tables (schemas in
:mod:`lingscope.core.schemas`) and figures (PNG plus SVG, via
:mod:`lingscope.analysis.plotting`).
"""
