"""Ingest of MSCOCO, SST and WMT into Parquet tables (see lingscope.schemas)."""
