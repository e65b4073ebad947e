"""Torch-free plumbing every stage uses: errors, atomic Parquet I/O, table schemas, the
settings objects behind every CLI, and the catalog of model families."""
