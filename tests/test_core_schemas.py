"""The table schemas (lingscope.core.schemas): their JSON copies and their column docs."""

import json
from pathlib import Path

from lingscope.core import schemas

REPO = Path(__file__).resolve().parents[1]


def test_json_schema_documents_are_in_sync():
    folder = REPO / "workflow" / "schemas" / "tables"
    for name, schema in schemas.TABLES.items():
        on_disk = json.loads((folder / f"{name}.schema.json").read_text())
        assert on_disk == schemas.to_json_schema(name, schema), f"rerun python -m lingscope.schemas --out {folder}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.schema.json" for n in schemas.TABLES)


def test_every_column_is_documented():
    for schema in schemas.TABLES.values():
        for field in schema:
            assert field.metadata and field.metadata[b"doc"], field.name
