"""training.lr_scheduler_kwargs: checked against the schedule where the config is read, so that
`forge check` fails exactly where `forge train` would.

QA, 2026-12: `forge check --set training.lr_scheduler_type=cosine_with_min_lr` said ready, and
`forge train` failed after the model loaded ("One of min_lr or min_lr_rate should be set through
the lr_scheduler_kwargs", rc 1, error_kind "error"); warmup_stable_decay failed with "get_wsd_schedule()
missing num_decay_steps"; and no key of training-config.json could give them their arguments.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest

from forge.cli import main
from forge.config import ConfigError, json_schema, validate_dict
from forge.config.trainer_names import EVAL_SCHEDULERS, SCHEDULER_KWARGS, SCHEDULER_NEEDS, SCHEDULERS
from forge.plan.hardware import HardwareInfo

CPU = HardwareInfo(torch_version="2.13.0", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
TINY = ["model.name=builtin:tiny-llama", "model.load_in_4bit=false", "training.max_steps=1"]
# the Trainer passes these itself; last_epoch is how it restores a schedule from a checkpoint
PASSED_BY_THE_TRAINER = {"optimizer", "num_warmup_steps", "num_training_steps", "last_epoch"}


def _config(name: str, kwargs: dict | None = None, **training):
    t = {"lr_scheduler_type": name, **training}
    if kwargs is not None:
        t["lr_scheduler_kwargs"] = kwargs
    return validate_dict({"training": t})


def _problems(name: str, kwargs: dict | None = None, **training) -> str:
    with pytest.raises(ConfigError) as e:
        _config(name, kwargs, **training)
    return "\n".join(e.value.problems)


# ------------------------------------------------------------------ the names, from the sources


def _tree(package: str, module: str) -> ast.Module:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        pytest.skip(f"{package} not installed")
    return ast.parse((Path(spec.origin).parent / module).read_text(encoding="utf-8"))


def _params(fn: ast.FunctionDef) -> tuple[list[str], list[str]]:
    """(every keyword parameter, those without a default) of a def, less self and **kwargs."""
    args = [a.arg for a in fn.args.args + fn.args.kwonlyargs if a.arg != "self"]
    defaults = len(fn.args.defaults)
    positional = [a.arg for a in fn.args.args if a.arg != "self"]
    required = positional[: len(positional) - defaults] if defaults else positional
    required += [a.arg for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=True) if d is None]
    return args, required


def _defs(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    out = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for n in cls.body:
            if isinstance(n, ast.FunctionDef) and n.name == "__init__":
                out[cls.name] = n
    return out


def _scheduler_functions() -> dict[str, str]:
    """SchedulerType value -> the function TYPE_TO_SCHEDULER_FUNCTION maps it to."""
    names = {}
    for node in ast.walk(_tree("transformers", "trainer_utils.py")):
        if isinstance(node, ast.ClassDef) and node.name == "SchedulerType":
            for s in node.body:
                if isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant):
                    names[s.targets[0].id] = s.value.value
    for node in _tree("transformers", "optimization.py").body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TYPE_TO_SCHEDULER_FUNCTION":
            return {names[k.attr]: v.id for k, v in zip(node.value.keys, node.value.values, strict=True)}
    raise AssertionError("TYPE_TO_SCHEDULER_FUNCTION not found")


def test_every_schedule_has_its_arguments():
    assert sorted(SCHEDULER_KWARGS) == sorted(SCHEDULERS)


def test_the_arguments_are_the_schedule_functions_own():
    functions = _scheduler_functions()
    defs = _defs(_tree("transformers", "optimization.py"))
    torch_defs = _defs(_tree("torch", "optim/lr_scheduler.py"))
    # what get_scheduler hands the kwargs to, for the two that take **kwargs
    defs["get_reduce_on_plateau_schedule"] = torch_defs["ReduceLROnPlateau"]
    defs["get_greedy_schedule"] = defs["GreedyLR"]
    for name, fn in functions.items():
        args, required = _params(defs[fn])
        if name in ("constant", "constant_with_warmup"):
            expected: set[str] = set()  # get_scheduler calls these without the kwargs
        else:
            expected = set(args) - PASSED_BY_THE_TRAINER
        assert set(SCHEDULER_KWARGS[name]) == expected, name
        needed = set(required) - PASSED_BY_THE_TRAINER
        if needed:  # no default: get_wsd_schedule() missing num_decay_steps
            assert set(SCHEDULER_NEEDS[name][0]) == needed, name


# ------------------------------------------------------------------ the config


@pytest.mark.parametrize("name", sorted(SCHEDULER_NEEDS))
def test_a_schedule_without_its_arguments_is_a_config_error_with_the_fix(name):
    text = _problems(name)
    names, example = SCHEDULER_NEEDS[name]
    assert text.startswith("training.lr_scheduler_kwargs:") and all(n in text for n in names)
    assert json.dumps(example) in text  # the fix, as the file spells it
    assert _config(name, example).training.lr_scheduler_kwargs == example


@pytest.mark.parametrize(
    "name,kwargs,words",
    [
        ("cosine_with_min_lr", {"min_lr": 1e-5, "min_lr_rate": 0.1}, "not both"),
        ("cosine", {"num_cycle": 1}, "did you mean 'num_cycles'?"),
        ("linear", {"num_cycles": 1}, "takes no arguments"),
        ("constant", {"power": 2}, "transformers would ignore power"),
        ("warmup_stable_decay", {"num_decay_steps": 10, "decay_type": "cos"}, "decay_type must be one of"),
        ("warmup_stable_decay", {"num_decay_steps": 2.5}, "num_decay_steps must be a whole number"),
        ("reduce_lr_on_plateau", {"factor": 1.5}, "factor must be below 1"),
        ("inverse_sqrt", {"timescale": 0}, "timescale must be 1 or more"),
        ("cosine_with_min_lr", {"min_lr_rate": "0.1"}, "min_lr_rate must be a number"),
        ("greedy", {"smooth": 1}, "smooth must be true or false"),
    ],
)
def test_bad_arguments_name_the_argument(name, kwargs, words):
    assert words in _problems(name, kwargs)


def test_polynomial_decays_below_the_learning_rate():
    assert "lr_end 1e-07 (its default) must be below training.learning_rate" in _problems(
        "polynomial", learning_rate=1e-8
    )
    assert "lr_end 0.001" in _problems("polynomial", {"lr_end": 1e-3})
    assert _config("polynomial", {"lr_end": 1e-6, "power": 2.0})


@pytest.mark.parametrize("name", EVAL_SCHEDULERS)
def test_eval_loss_schedules_need_an_eval(name):
    with pytest.raises(ConfigError) as e:
        validate_dict({"training": {"lr_scheduler_type": name, "eval_steps": None}})
    assert e.value.problems == [
        f"training.lr_scheduler_type {name} adjusts the learning rate from the eval loss, but training.eval_steps is "
        'null (no eval): set training.eval_steps to "auto" or a number of steps, or choose a schedule that needs no '
        "eval (linear, cosine, ...)"
    ]
    with pytest.raises(ConfigError) as e:
        validate_dict({"training": {"lr_scheduler_type": name}, "dataset": {"val_path": None}})
    assert "dataset.val_path is null" in e.value.problems[0]
    assert validate_dict({"training": {"lr_scheduler_type": name}})


def test_the_key_is_in_the_schema_and_the_defaults():
    t = json_schema()["$defs"]["TrainingSection"]["properties"]
    assert t["lr_scheduler_kwargs"]["type"] == "object" and "min_lr_rate" in t["lr_scheduler_kwargs"]["description"]
    assert validate_dict({}).to_json_dict()["training"]["lr_scheduler_kwargs"] == {}


# ------------------------------------------------------------------ what transformers builds

VALID = {name: dict(SCHEDULER_NEEDS[name][1]) if name in SCHEDULER_NEEDS else {} for name in SCHEDULERS}
VALID |= {"cosine": {"num_cycles": 1.0}, "polynomial": {"lr_end": 1e-6, "power": 2.0}, "greedy": {"patience": 2}}
REFUSED = [
    ("cosine_with_min_lr", {}),
    ("cosine_warmup_with_min_lr", {}),
    ("warmup_stable_decay", {}),
    ("cosine_with_min_lr", {"min_lr": 1e-5, "min_lr_rate": 0.1}),
    ("linear", {"num_cycles": 1}),
    ("cosine", {"num_cycle": 1}),
    ("warmup_stable_decay", {"num_decay_steps": 10, "decay_type": "cos"}),
    ("reduce_lr_on_plateau", {"factor": 1.5}),
    ("greedy", {"factor": 1.0}),
    ("polynomial", {"lr_end": 1e-3}),
]


def _build(name: str, kwargs: dict):
    torch = pytest.importorskip("torch")
    optimization = pytest.importorskip("transformers.optimization")
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=2e-4)
    return optimization.get_scheduler(
        name, opt, num_warmup_steps=5, num_training_steps=50, scheduler_specific_kwargs=dict(kwargs)
    )


@pytest.mark.parametrize("name", SCHEDULERS)
def test_what_the_config_accepts_transformers_builds(name):
    cfg = _config(name, VALID[name])  # accepted here...
    _build(name, cfg.training.lr_scheduler_kwargs)  # ...and built by get_scheduler, as the Trainer calls it


@pytest.mark.parametrize("name,kwargs", REFUSED, ids=[f"{n}-{'-'.join(k) or 'none'}" for n, k in REFUSED])
def test_what_the_config_refuses_transformers_would_not_build(name, kwargs):
    with pytest.raises(ConfigError):
        _config(name, kwargs)
    with pytest.raises((ValueError, TypeError)):
        _build(name, kwargs)


def test_constant_schedules_would_drop_their_arguments_silently():
    for name in ("constant", "constant_with_warmup"):
        with pytest.raises(ConfigError):
            _config(name, {"num_cycles": 1})
        _build(name, {"num_cycles": 1})  # no error from transformers: the argument would be ignored


# ------------------------------------------------------------------ check and train agree


def _sets(items):
    return [x for s in items for x in ("--set", s)]


@pytest.mark.parametrize(
    "sets,words",
    [
        (["training.lr_scheduler_type=cosine_with_min_lr"], "needs one of min_lr or min_lr_rate"),
        (["training.lr_scheduler_type=cosine_warmup_with_min_lr"], "needs one of min_lr or min_lr_rate"),
        (["training.lr_scheduler_type=warmup_stable_decay"], "needs num_decay_steps"),
        (["training.lr_scheduler_type=reduce_lr_on_plateau", "training.eval_steps=null"], "from the eval loss"),
    ],
)
def test_check_fails_where_train_refuses_before_any_weights_load(project, monkeypatch, capsys, sets, words):
    import forge.plan.hardware as hw
    from forge.train.backends.hf import HFBackend

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    assert main(["check", str(project.root), "--json", *_sets(TINY + sets)]) == 1
    out = json.loads(capsys.readouterr().out)
    failed = [i for sec in out["sections"].values() for i in sec if i["status"] == "fail"]
    assert [i["name"] for i in failed] == ["config valid"] and words in failed[0]["detail"]

    def load(self):
        raise AssertionError("weights loaded before the refusal")

    monkeypatch.setattr(HFBackend, "load", load)
    assert main(["train", str(project.root), *_sets(TINY + sets)]) == 2  # a config error, as for any key
    said = capsys.readouterr()
    assert words in " ".join((said.out + said.err).split())


def test_the_arguments_reach_the_trainer(project):
    pytest.importorskip("trl")
    import logging

    from forge.train.backends import TrainPlan
    from forge.train.backends.hf import HFBackend

    cfg = validate_dict(
        {"training": {"lr_scheduler_type": "cosine_with_min_lr", "lr_scheduler_kwargs": {"min_lr_rate": 0.25}}}
    )
    backend = HFBackend(cfg, logging.getLogger("test"), project.root / "outputs")
    plan = TrainPlan(
        total_steps=4,
        steps_per_epoch=4,
        eval_steps=None,
        save_steps=2,
        optim="adamw_torch",
        fp16=False,
        bf16=False,
        gradient_checkpointing=False,
        packing=False,
        device="cpu",
    )
    args = backend.sft_config(plan)
    assert args.lr_scheduler_type == "cosine_with_min_lr" and args.lr_scheduler_kwargs == {"min_lr_rate": 0.25}
