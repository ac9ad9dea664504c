"""The JSON Schema of training-config.json (`forge schema`, the file forge ships) and the
default file `forge init` writes, which points editors at it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from forge.config.sections import ForgeConfig

SCHEMA_URL = "https://factory-forge.dev/schema/training-config.schema.json"
# shipped beside the package (package-data), where `forge init` copies it from
SCHEMA_FILE = Path(__file__).parent.parent / "training-config.schema.json"


def json_schema() -> dict[str, Any]:
    schema = ForgeConfig.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_URL
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


def default_config_dict(**section_overrides: dict[str, Any]) -> dict[str, Any]:
    data = ForgeConfig().to_json_dict()
    data["$schema"] = "./training-config.schema.json"
    for section, values in section_overrides.items():
        data[section].update(values)
    return data
