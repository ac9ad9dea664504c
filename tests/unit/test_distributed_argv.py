"""The launcher hands the user's own argv to its ranks, minus its own options (torch-free).

Before, `child_argv` rebuilt the command line from the parsed options, so an option it did not
know (a new `forge train` option, or `--strategy`) never reached the ranks.
"""

from __future__ import annotations

import json

import pytest
import typer

from forge.train.distributed.argv import LAUNCHER_OPTIONS, child_args


def test_every_token_but_the_launchers_reaches_the_ranks():
    argv = [
        "train",
        "/tmp/my project/with spaces",
        "--set",
        "training.learning_rate=1e-4",
        "--set=lora.r=4",
        "--gpus=2",
        "--config",
        "configs/a b.json",
        "--nproc",
        "2",
        "--nnodes=2",
        "--node-rank",
        "1",
        "--rdzv-endpoint",
        "127.0.0.1:29500",
        "--strategy",
        "fsdp",
        "--a-future-option",
        "its value",
        "--resume",
        "--json",
    ]
    assert child_args(argv) == [
        "train",
        "/tmp/my project/with spaces",
        "--set",
        "training.learning_rate=1e-4",
        "--set=lora.r=4",
        "--config",
        "configs/a b.json",
        "--strategy",
        "fsdp",
        "--a-future-option",
        "its value",
        "--resume",
        "--json",
    ]


def test_a_value_that_looks_like_a_launcher_option_is_kept():
    # `--set` takes the next token as its value, whatever it looks like; only option names are dropped
    assert child_args(["train", "--set", "x=--gpus", "--", "--gpus"]) == ["train", "--set", "x=--gpus", "--", "--gpus"]


def _train_command():
    from forge.cli import app

    group = typer.main.get_command(app)
    return group.commands["train"]


def test_every_option_of_forge_train_passes_through_except_the_launchers():
    """Generic over the command's own options: one added tomorrow passes through with no change here."""
    cmd = _train_command()
    names = set()
    for p in cmd.params:
        names.update(o for o in getattr(p, "opts", []) if o.startswith("--"))
    assert set(LAUNCHER_OPTIONS) <= names, "the launcher strips an option forge train does not have"
    for name in sorted(names - set(LAUNCHER_OPTIONS) - {"--help"}):
        argv = ["train", "dir", name, "v a l", f"{name}=x"]
        assert child_args(argv) == argv, name


def test_forge_train_hands_its_own_argv_to_the_launcher(tmp_path, monkeypatch):
    """Through the CLI: `forge train DIR --nproc 2 ...` reaches launch() with the user's tokens."""
    from forge.cli import main
    from forge.init.scaffold import init_project
    from forge.train.distributed import launch as launch_mod

    proj, _ = init_project(tmp_path / "a project")
    seen = {}

    def fake_launch(project, plan, forge_args, echo=None):
        seen.update(plan=plan, args=forge_args)
        return 0

    monkeypatch.setattr(launch_mod, "launch", fake_launch)
    argv = [
        "train",
        str(proj.root),
        "--nproc=2",
        "--set",
        "training.learning_rate=1e-4",
        "--strategy",
        "fsdp",
        "--json",
    ]
    assert main(argv) == 0
    assert seen["args"] == [
        "train",
        str(proj.root),
        "--set",
        "training.learning_rate=1e-4",
        "--strategy",
        "fsdp",
        "--json",
    ]
    assert seen["plan"].nproc_per_node == 2 and seen["plan"].strategy == "fsdp" and seen["plan"].comm == "gloo"


def test_a_bad_config_is_refused_by_the_launcher_before_any_rank_starts(tmp_path, monkeypatch):
    from forge.cli import main
    from forge.init.scaffold import init_project
    from forge.train.distributed import launch as launch_mod

    proj, _ = init_project(tmp_path / "p")
    monkeypatch.setattr(launch_mod, "launch", lambda *a, **k: pytest.fail("launched with a bad config"))
    assert main(["train", str(proj.root), "--nproc", "2", "--set", "training.learning_rat=1"]) == 2


@pytest.mark.parametrize(
    "options, fix",
    [
        (dict(nproc=2, strategy="zero3"), "--strategy ddp"),
        (dict(nproc=2, nnodes=2), "--rdzv-endpoint"),
        (dict(nproc=2, nnodes=2, rdzv_endpoint="host-without-port"), "HOST:PORT"),
        (dict(nproc=2, nnodes=2, rdzv_endpoint="h:1", node_rank=2), "0, 1"),
        (dict(nnodes=2, rdzv_endpoint="h:1"), "--gpus N"),
        (dict(nproc=2, gpus="2"), "one of them"),
    ],
)
def test_bad_launch_options_are_refused_with_the_fix(options, fix):
    from forge.errors import ForgeError
    from forge.train.distributed.launch import plan_launch

    with pytest.raises(ForgeError) as e:
        plan_launch(options.pop("gpus", None), options.pop("nproc", None), **options)
    assert e.value.exit_code == 2 and fix in (e.value.fix or "") + e.value.message


def test_torchrun_command_single_node_and_rendezvous():
    from forge.train.distributed.launch import LaunchPlan, plan_launch

    assert plan_launch(None, 1) is None and plan_launch(None, None) is None  # one process: no launcher
    one = plan_launch(None, 2).torchrun_command(["train", "d"])
    assert "--standalone" in one and "--nproc_per_node=2" in one and one[-3:] == ["forge", "train", "d"]
    node1 = LaunchPlan(2, "gloo", "ddp", 2, 1, "127.0.0.1:29555").torchrun_command(["train"])
    assert "--standalone" not in node1
    assert {"--nnodes=2", "--rdzv_backend=c10d", "--rdzv_endpoint=127.0.0.1:29555", "--rdzv_conf=is_host=false"} <= set(
        node1
    )
    node0 = LaunchPlan(2, "gloo", "ddp", 2, 0, "127.0.0.1:29555").torchrun_command(["train"])
    assert "--rdzv_conf=is_host=true" in node0
    json.dumps(node0)  # plain strings


def test_fsdp_on_one_process_says_it_shards_nothing(tmp_path):
    from forge.init.scaffold import init_project
    from forge.train.start import TrainRequest, launch_if_asked

    proj, _ = init_project(tmp_path / "p")
    said = []
    assert launch_if_asked(proj, TrainRequest(strategy="fsdp"), warn=said.append) is None
    assert len(said) == 1 and "nothing to shard" in said[0] and "--nproc" in said[0]
    assert launch_if_asked(proj, TrainRequest(), warn=said.append) is None and len(said) == 1


def test_a_launch_without_the_command_line_is_refused(tmp_path):
    from forge.errors import ForgeError
    from forge.init.scaffold import init_project
    from forge.train.start import TrainRequest, launch_if_asked

    proj, _ = init_project(tmp_path / "p")
    with pytest.raises(ForgeError) as e:
        launch_if_asked(proj, TrainRequest(nproc=2))  # a caller (not the CLI) with no argv to hand over
    assert e.value.exit_code == 2 and "forge train" in e.value.fix
