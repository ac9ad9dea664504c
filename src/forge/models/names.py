"""Which model names to suggest when one is not found: only names that exist here (torch-free).

A suggestion is pasted into the config, so it must name a model that loads: the built-ins, and
the models in the local Hugging Face cache (their folder names: no network). An invented name
(`unsloth/` put before whatever was typed) or the missing name itself sends the user round in a
circle, so neither is ever suggested.
"""

from __future__ import annotations

import difflib
from pathlib import Path

BUILTINS = ["builtin:tiny-llama", "builtin:tiny-gemma3", "builtin:gemma-3-270m", "builtin:tiny-gemma3-vlm"]


def cached_repo_ids() -> list[str]:
    """Model ids in the local HF cache that hold a config.json (folder names only: no network)."""
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except Exception:
        return []
    found = []
    for folder in sorted(Path(HF_HUB_CACHE).glob("models--*")):
        # a folder left by a failed download holds no snapshot with a config: it does not load
        if any(folder.glob("snapshots/*/config.json")):
            found.append(folder.name[len("models--") :].replace("--", "/"))
    return found


def suggestions(name: str, n: int = 2) -> list[str]:
    """Up to `n` existing names close to `name` (never `name` itself), best first."""
    name = name.strip()
    known = [k for k in dict.fromkeys(BUILTINS + cached_repo_ids()) if k != name]
    by_lower = {k.lower(): k for k in known}
    near = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    if not near and "/" in name:  # another owner of the same model: compare the part after the owner
        tail = name.rsplit("/", 1)[-1].lower()
        tails = {k.rsplit("/", 1)[-1].lower(): k for k in known if "/" in k}
        near = [tails[t].lower() for t in difflib.get_close_matches(tail, list(tails), n=n, cutoff=0.8)]
    return [by_lower[k] for k in near]


def did_you_mean(name: str) -> str:
    """' (did you mean 'builtin:tiny-llama'?)', or '' when nothing that exists is close."""
    near = suggestions(name, n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def try_names(name: str) -> str:
    """The names a fix offers: the close ones that exist, then the test built-ins."""
    return ", ".join(dict.fromkeys(suggestions(name) + [b for b in BUILTINS[:2] if b != name.strip()]))
