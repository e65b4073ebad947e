"""Statistics and figures over the Parquet tables of the earlier stages; no torch here.

One folder per paper (``kadar2017``, ``li2016``, ``poerner2018``) and one for what spans them
(``across_papers``), beside the shared readers and plotting (``networks``, ``plotting``) and the
settings of every analysis (``settings``). Each entry module reads the tables of the earlier
stages and writes its own tables (schemas in :mod:`lingscope.core.schemas`) and figures (PNG
plus SVG, via :mod:`lingscope.analysis.plotting`).
"""
