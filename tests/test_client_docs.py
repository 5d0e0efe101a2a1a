"""Every GraphQL document docs/clients.md shows a client developer validates against the
committed schema.graphql (a renamed field or a conflicting union member fails here)."""

from __future__ import annotations

import re
from pathlib import Path

import graphql
import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(
    r"```graphql\n(.*?)```", (ROOT / "docs" / "clients.md").read_text(encoding="utf-8"), re.S
)


def test_the_docs_show_documents():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("document", BLOCKS, ids=[b.split("\n")[0][:40] for b in BLOCKS])
def test_each_document_validates(document):
    schema = graphql.build_schema((ROOT / "schema.graphql").read_text(encoding="utf-8"))
    assert graphql.validate(schema, graphql.parse(document)) == []
