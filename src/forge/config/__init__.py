"""training-config.json: its sections (pydantic), how a file and --set are read, and its schema.

Every key of the original Unsloth template keeps its name, meaning and default so that existing
files load unchanged; keys forge adds live in the section they belong to. Unknown keys are errors
that name the nearest valid key, because a misspelt `learnig_rate` silently falling back to the
default is the worst kind of bug in a training run.

    sections.py     the models: ModelSection ... EvaluationSection, ForgeConfig
    errors.py       ConfigError; pydantic's errors as one line a key
    load.py         the file, --config's path rule, load_config (defaults <- file <- --set)
    overrides.py    --set key.path=value
    schema_file.py  the JSON Schema and the default file `forge init` writes

Every verb imports from here; the names stay here for them (and for configs' library users).
"""

from forge.config.errors import ConfigError
from forge.config.load import config_path, load_config, load_config_dict, validate_dict
from forge.config.overrides import apply_overrides, parse_override
from forge.config.schema_file import SCHEMA_FILE, SCHEMA_URL, default_config_dict, json_schema, schema_text
from forge.config.sections import (
    DEFAULT_TARGET_MODULES,
    Auto,
    DatasetSection,
    EvaluationSection,
    ForgeConfig,
    LoraSection,
    ModelSection,
    SaveSection,
    TrainingSection,
)

__all__ = [
    "DEFAULT_TARGET_MODULES",
    "SCHEMA_FILE",
    "SCHEMA_URL",
    "Auto",
    "ConfigError",
    "DatasetSection",
    "EvaluationSection",
    "ForgeConfig",
    "LoraSection",
    "ModelSection",
    "SaveSection",
    "TrainingSection",
    "apply_overrides",
    "config_path",
    "default_config_dict",
    "json_schema",
    "load_config",
    "load_config_dict",
    "parse_override",
    "schema_text",
    "validate_dict",
]
