"""An output folder never writes over the project.

QA: `forge train P --set save.lora_path=` (or `.`) said ready, trained, and swapped the adapter in
as the project folder: data/, training-config.json, outputs/, logs/ and scripts/ were gone, the
folder held adapter_model.safetensors. `training.output_dir` "" put checkpoint-N and the trainer's
README.md among the project's own files.
"""

from __future__ import annotations

import json

import pytest

from forge.config import ConfigError, validate_dict
from forge.errors import ForgeError
from forge.files import swap_into_place, write_swapped
from forge.project import Project


@pytest.mark.parametrize("key", ["save.lora_path", "training.output_dir", "dataset.path", "save.merged_path"])
def test_an_empty_path_is_a_config_error(key):
    section, name = key.split(".")
    with pytest.raises(ConfigError) as e:
        validate_dict({section: {name: ""}})
    assert e.value.keys == [key] and "empty" in e.value.message


@pytest.mark.parametrize(
    "sets,key",
    [
        ({"save": {"lora_path": "."}}, "save.lora_path"),
        ({"save": {"lora_path": ".."}}, "save.lora_path"),
        ({"save": {"lora_path": "data"}}, "save.lora_path"),
        ({"save": {"lora_path": "outputs"}}, "save.lora_path"),
        ({"save": {"merged_path": "metrics"}}, "save.merged_path"),
        ({"training": {"output_dir": "."}}, "training.output_dir"),
        ({"save": {"gguf_path": "."}}, "save.gguf_path"),
    ],
)
def test_check_refuses_an_output_over_the_project(tmp_path, sets, key):
    cfg = validate_dict(sets)
    clashes = Project.at(tmp_path / "p").output_clashes(cfg)
    assert [k for k, _ in clashes] == [key]


def test_the_defaults_and_folders_of_their_own_are_fine(tmp_path):
    project = Project.at(tmp_path)
    assert project.output_clashes(validate_dict({})) == []
    own = {"save": {"lora_path": "models/exp1", "merged_path": "models/exp1-merged"}, "training": {"output_dir": "o1"}}
    assert project.output_clashes(validate_dict(own)) == []


def test_the_resolver_refuses_it_as_check_and_train_do(tmp_path):
    from forge.plan.hardware import HardwareInfo
    from forge.plan.resolve import resolve
    from forge.plan.stats import DataStats

    cfg = validate_dict({"model": {"name": "builtin:tiny-llama"}, "save": {"lora_path": "."}})
    p = resolve(cfg, DataStats(20, 2, [50] * 20), HardwareInfo(ram_gb=16), as_configured=True, root=tmp_path)
    refused = [r for r in p.refusals if r.kind == "paths"]
    assert refused and refused[0].key == "save.lora_path" and "models/checkpoints/lora" in refused[0].fix


def test_a_swap_never_replaces_a_project_folder(tmp_path):
    root = tmp_path / "p"
    (root / ".factory").mkdir(parents=True)
    (root / "training-config.json").write_text(json.dumps({}))
    tmp = tmp_path / ".p.tmp"
    tmp.mkdir()
    (tmp / "adapter_model.safetensors").write_bytes(b"x")
    with pytest.raises(ForgeError):
        swap_into_place(tmp, root)
    wrote = []
    with pytest.raises(ForgeError):
        write_swapped(root, "t", wrote.append, lambda p: True)
    assert not wrote and (root / "training-config.json").exists()


@pytest.mark.parametrize("merged,types,sets", [(True, [], {"merged_path": "."}), (False, ["q8_0"], {"gguf_path": "."})])
def test_export_refuses_an_output_over_the_project_before_it_merges(tmp_path, merged, types, sets):
    # QA: `forge export --merged --set save.merged_path=.` answered "ok": true with the project folder
    # replaced by the merged model
    from forge.export.job import ExportJob
    from forge.export.steps_model import plan

    job = ExportJob(Project.at(tmp_path), validate_dict({"save": sets}), merged, types, lambda m: None)
    with pytest.raises(ForgeError) as e:
        plan(job)
    assert e.value.exit_code == 2 and "is the project folder" in e.value.message
