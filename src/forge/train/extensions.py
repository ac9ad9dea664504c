"""Extra TrainerCallbacks for a run, from outside forge (torch-free to import).

The recipe adds to its own ForgeCallback every callback that `train(..., callbacks=[...])` is
given and every one a registered factory makes. A factory is called once per run (so the
callbacks it makes can keep per-run state) and may return None to add nothing:

    from forge.train import extensions
    extensions.register_callback(lambda: MyCallback())

This is how tests inject faults (an OOM at step k, a NaN loss) without forge's production modules
reading a test variable, and how a user can add a tracker of their own from a wrapper script.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CALLBACK_FACTORIES: list[Callable[[], Any]] = []


def register_callback(factory: Callable[[], Any]) -> None:
    CALLBACK_FACTORIES.append(factory)


def extra_callbacks(given: list | None = None) -> list:
    """The callbacks given to this run, then those of the registered factories."""
    made = [factory() for factory in CALLBACK_FACTORIES]
    return [*(given or []), *(cb for cb in made if cb is not None)]
