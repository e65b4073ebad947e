"""Kadar et al. (2017), "Representation of linguistic form and function in recurrent neural
networks": omission scores by label and position (Figs. 1-6) and the unit-level analyses (top-K
contexts, Table 1 and Fig. 7, the grammatical-function probe of Table 2, mutual information of
Fig. 8). See docs/kadar2017.md.
"""
