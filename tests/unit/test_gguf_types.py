"""One rule for a list of GGUF types (forge.config.gguf_types): the config's `save.gguf_quantization`
and `forge export --gguf` accept and refuse the same lists, in the same words, each naming its
own key or option and the fix. QA found the rule "an empty list is an error" written twice, in
two wordings (the config's named no key in its fix; the CLI's named no option for a typo)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from forge.cli import main
from forge.config import ConfigError, validate_dict
from forge.config.gguf_types import (
    CLI_OPTION,
    CONFIG_KEY,
    CONVERTER_TYPES,
    GGUF_TYPES,
    KQUANT_FTYPES,
    GGUFTypesError,
    parse_gguf_types,
)

REFUSED = ["", ",", " , ", "bogus", "q8_0,q4_km", "Q4_KM", "q8_0,,nope"]
ACCEPTED = {"Q8_0": ["q8_0"], "q8_0, F16,q4_k_m,q8_0": ["q8_0", "f16", "q4_k_m"], "q8_0,,": ["q8_0"]}


def _one_line(text: str) -> str:
    return " ".join(text.split())  # rich wraps the CLI's error at the terminal's width


@pytest.mark.parametrize("spec, types", sorted(ACCEPTED.items()))
def test_a_list_is_read_the_same_everywhere(spec, types):
    assert parse_gguf_types(spec) == types
    assert parse_gguf_types(spec, where=CONFIG_KEY) == types
    assert parse_gguf_types(spec.split(",")) == types  # a list of names as well as a string
    assert validate_dict({"save": {"gguf_quantization": spec}}).save.gguf_quantization == spec


@pytest.mark.parametrize("spec", REFUSED)
def test_the_parser_names_where_the_list_came_from_and_the_fix(spec):
    for where in (CLI_OPTION, CONFIG_KEY):
        with pytest.raises(GGUFTypesError) as e:
            parse_gguf_types(spec, where=where)
        err = e.value
        assert err.exit_code == 2 and err.kind == "usage"
        assert err.message.startswith(f"{where} ") and err.problem in err.message
        assert where in err.fix  # the fix says what to set, in the words of the key or the option
        assert all(t in err.fix for t in GGUF_TYPES)  # and lists what is accepted


@pytest.mark.parametrize("spec", REFUSED)
def test_the_config_error_is_the_parsers_problem_and_fix(spec):
    expected = pytest.raises(GGUFTypesError, parse_gguf_types, spec, where=CONFIG_KEY).value
    with pytest.raises(ConfigError) as e:
        validate_dict({"save": {"gguf_path": "models/quantized", "gguf_quantization": spec}})
    err = e.value
    assert err.kind == "config" and err.exit_code == 2  # the config error kind stays what it was
    (line,) = err.problems
    assert line.startswith(f"{CONFIG_KEY}: ")
    assert expected.problem in line and expected.fix in line


@pytest.mark.parametrize("spec", REFUSED)
def test_the_export_cli_error_is_the_parsers_message_and_fix(tmp_path, capsys, spec):
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    expected = pytest.raises(GGUFTypesError, parse_gguf_types, spec, where=CLI_OPTION).value
    assert main(["export", str(proj.root), "--gguf", spec]) == 2  # a usage error, as before
    err = _one_line(capsys.readouterr().err)
    assert _one_line(expected.message) in err and _one_line(expected.fix) in err


def test_an_empty_list_says_how_to_ask_for_no_gguf():
    cli = pytest.raises(GGUFTypesError, parse_gguf_types, "", where=CLI_OPTION).value
    cfg = pytest.raises(GGUFTypesError, parse_gguf_types, " , ", where=CONFIG_KEY).value
    assert cli.problem == cfg.problem == "names no GGUF type"
    assert "leave out --gguf" in cli.fix and "e.g. --gguf q8_0" in cli.fix
    assert "save.gguf_path unset" in cfg.fix and 'set save.gguf_quantization to one or more, e.g. "Q8_0"' in cfg.fix


def test_a_typo_names_the_nearest_type():
    err = pytest.raises(GGUFTypesError, parse_gguf_types, "q8_0,q4_km").value
    assert err.message == "--gguf 'q8_0,q4_km': unknown GGUF type 'q4_km' (did you mean 'q4_k_m'?)"


def test_the_types_have_one_list():
    # every table keyed by type covers exactly the accepted types: a type added to the list but
    # not to a table would pass validation and fail in the middle of an export
    from forge.config import SaveSection
    from forge.export import disk, gguf, verify

    assert set(GGUF_TYPES) == set(CONVERTER_TYPES) | set(KQUANT_FTYPES)
    assert gguf.CONVERTER_TYPES is CONVERTER_TYPES and gguf.KQUANT_FTYPES is KQUANT_FTYPES
    assert set(disk.BYTES_PER_PARAM) == set(GGUF_TYPES)
    assert set(disk.PURE_PYTHON_TYPES) == set(CONVERTER_TYPES)
    assert set(verify.TENSOR_RRMSE) == set(GGUF_TYPES)
    assert set(verify.NEAR_TIE) <= set(CONVERTER_TYPES)
    description = SaveSection.model_fields["gguf_quantization"].description
    assert all(t in description for t in GGUF_TYPES)
    # export's own parse_types is the same rule; None / [] is what a caller passes for "no GGUF"
    assert gguf.parse_types("Q8_0,q6_k") == ["q8_0", "q6_k"] and gguf.parse_types(None) == gguf.parse_types([]) == []
    with pytest.raises(GGUFTypesError):
        gguf.parse_types("")


def test_config_validation_does_not_import_the_export_package():
    # the rule lives beside the config: checking one key must not load forge.export (nor torch)
    code = (
        "import sys, json; from forge.config import validate_dict; "
        "validate_dict({'save': {'gguf_path': 'q', 'gguf_quantization': 'Q8_0,q4_k_m'}}); "
        "print(json.dumps([m for m in ('forge.export', 'torch') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
