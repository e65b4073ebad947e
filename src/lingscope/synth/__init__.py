"""Synthetic corpora in the real published formats, generated from a seed."""
