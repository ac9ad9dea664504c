from pathlib import Path

from pydantic import BaseModel

from forge.config import ForgeConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_configuration_reference_lists_every_key():
    text = (DOCS / "configuration.md").read_text()
    for section, field in ForgeConfig.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            assert f"## `{section}`" in text, section
            for key in ann.model_fields:
                assert f"| `{key}` |" in text, f"{section}.{key} missing from docs/configuration.md"


def test_status_contract_lists_every_key():
    from dataclasses import fields

    from forge.status import Status

    text = (DOCS / "status-contract.md").read_text()
    for f in fields(Status):
        assert f"`{f.name}`" in text, f.name
