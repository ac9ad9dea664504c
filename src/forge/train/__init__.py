"""`forge train`: the training run (recipe in run.py; backends in backends/).

Only run.train() and what it calls import the ML stack, and only inside functions, so importing
this package (as the CLI and the web UI do) stays fast.
"""

from __future__ import annotations


def train(*args, **kwargs):
    from forge.train.run import train as _train

    return _train(*args, **kwargs)


__all__ = ["train"]
