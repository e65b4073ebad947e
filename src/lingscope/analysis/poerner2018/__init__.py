"""Poerner et al. (2018), "Interpretable textual neuron representations for NLP": the input
optimisation methods set against each other (Fig. 1, the summary and Table 1). See
docs/poerner2018.md.
"""
