"""docs/ stays true: examples match the code, validate, and output.md documents every field."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from netdetect.output import FORMATS
from netdetect.output.csvfmt import COLUMNS
from netdetect.testing.sample import write_examples

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLES = DOCS / "examples"
SCHEMA_FILES = {
    "jsonl": DOCS / "findings.schema.json",
    "ecs": DOCS / "schemas" / "ecs.schema.json",
    "eve": DOCS / "schemas" / "eve.schema.json",
    "csv": DOCS / "schemas" / "csv.schema.json",
}


def test_examples_are_what_the_code_writes_today(tmp_path: Path) -> None:
    written = write_examples(tmp_path)
    assert {path.name for path in written} == {path.name for path in EXAMPLES.iterdir()}
    for path in written:
        assert path.read_bytes() == (EXAMPLES / path.name).read_bytes(), (
            f"docs/examples/{path.name} is stale: run python -m netdetect.testing.sample docs/examples"
        )


@pytest.mark.parametrize(
    ("fmt", "example"),
    [
        ("jsonl", "findings.jsonl"),
        ("ecs", "findings.ecs.jsonl"),
        ("eve", "findings.eve.jsonl"),
        ("csv", "findings.csv"),
    ],
)
def test_examples_validate_against_their_schemas(fmt: str, example: str) -> None:
    schemas = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in SCHEMA_FILES.items()}
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    validator = Draft202012Validator(schemas[fmt], registry=registry)
    text = (EXAMPLES / example).read_bytes().decode("utf-8")
    rows = (
        list(csv.DictReader(io.StringIO(text)))
        if fmt == "csv"
        else [json.loads(x) for x in text.splitlines()]
    )
    assert len(rows) == 4
    for row in rows:
        validator.validate(row)


def test_output_md_documents_every_format_field_and_column() -> None:
    guide = (DOCS / "output.md").read_text(encoding="utf-8")
    for name in FORMATS:
        assert f"`{name}`" in guide
    schema = json.loads(SCHEMA_FILES["jsonl"].read_text(encoding="utf-8"))
    for field in schema["required"]:
        assert f"`{field}`" in guide, field
    for field in schema["$defs"]["intel_hit"]["required"]:
        assert f"`{field}`" in guide, field
    flat = " ".join(guide.split())
    assert ", ".join(COLUMNS) in flat.replace("`", "")
