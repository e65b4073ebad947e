"""Recurrent models of Kadar et al. 2017 (IMAGINET, SUM, LM) in torch."""
