"""Dependency parsing of pre-tokenized corpora into the TOKENS table (see lingscope.schemas)."""
