"""Which of forge's roles a chat template has, and the documented mapping where it lacks one.

forge normalises every dataset to system/user/assistant/tool (forge.data.formats). A template whose
family has a tool-result role uses it (llama-3's `ipython`, Qwen/ChatML's `<tool_response>` inside
a user turn); a template without one renders the tool turn as a user turn, because a tool result is
context the model reads, never text it learns to write. Families without a system role (gemma,
mistral) prepend the system text to the first user turn.

The same rule holds for any template, a model's own included: `role_support` renders two tiny
probe conversations once per template and says whether it has a tool role (it names the role
'tool' and renders a tool turn's content without raising) and a system role (it renders the
system text). Where it lacks one, `adapt_messages` maps the turns the documented way before the
template sees them: tool results become user turns (consecutive results, one user turn), the
system text goes before the first user turn. Gemma 3's official template, which raises on any
role but user/assistant in turn, thus renders tool-calling data as forge's gemma-3 format does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from forge.models.jinja_render import render


@dataclass(frozen=True)
class RoleSupport:
    """Which of forge's roles a template renders as themselves (else adapt_messages maps them)."""

    tool: bool = True  # a tool-result role: the template names 'tool' and renders the turn's content
    system: bool = True  # the template renders a leading system turn's text

    def mapping(self) -> list[str]:
        """What adapt_messages does for this template, in words (for logs); empty when nothing."""
        out = []
        if not self.tool:
            out.append("tool turns are rendered as user turns (the template has no tool role)")
        if not self.system:
            out.append("the system text is put before the first user turn (the template has no system role)")
        return out


_TOOL_ROLE = re.compile(r"""(['"])tool\1""")  # the template names the role: == 'tool', in ['tool', ...]
_PROBE_TOOL = "Zq5 probe tool result"
_PROBE_SYSTEM = "Zq7 probe system text"


@lru_cache(maxsize=32)
def role_support(jinja: str, special: tuple[tuple[str, str], ...] = ()) -> RoleSupport:
    """Render a probe conversation per role, once per template: does the template take a tool turn
    (and name the role) and a system turn, showing their text? A template that raises on one, or
    silently leaves its text out, lacks that role."""
    sp = dict(special)
    q, a = {"role": "user", "content": "Zq1 probe question"}, {"role": "assistant", "content": "Zq2 probe answer"}

    def shows(messages: list[dict], needle: str) -> bool:
        try:
            return needle in render(jinja, messages, False, sp)
        except Exception:  # the template refuses the role (raise_exception) or cannot render it
            return False

    tool = bool(_TOOL_ROLE.search(jinja)) and shows(
        [q, a, {"role": "tool", "content": _PROBE_TOOL}, {"role": "assistant", "content": "Zq6 probe reply"}],
        _PROBE_TOOL,
    )
    system = shows([{"role": "system", "content": _PROBE_SYSTEM}, q, a], _PROBE_SYSTEM)
    return RoleSupport(tool=tool, system=system)


def adapt_messages(messages: list[dict], roles: RoleSupport) -> list[dict]:
    """The conversation in the roles the template has (the same list when nothing changes).

    Without a tool role, a tool turn becomes a user turn; results that follow one another (or a
    user turn) are joined into one user turn, a blank line apart, so templates that insist on
    alternating user/assistant turns accept them. Without a system role, the system text goes
    before the first user turn's, a blank line apart. Idempotent; assistant turns are never touched.
    """
    map_tool = not roles.tool and any(m["role"] == "tool" for m in messages)
    fold = not roles.system and bool(messages) and messages[0]["role"] == "system"
    if not map_tool and not fold:
        return messages
    out: list[dict] = []
    joined = False  # out[-1] is a user turn made from a tool result: a following user turn joins it
    for m in messages:
        is_tool = m["role"] == "tool" and map_tool
        if is_tool or (joined and m["role"] == "user"):
            if out and out[-1]["role"] == "user":
                out[-1] = {**out[-1], "content": out[-1]["content"] + "\n\n" + m["content"]}
            else:
                out.append({"role": "user", "content": m["content"]})
            joined = True
            continue
        joined = False
        out.append(m)
    if fold:
        system, rest = out[0], out[1:]
        if rest and rest[0]["role"] == "user":
            first = rest[0]
            out = [{**first, "content": system["content"].strip() + "\n\n" + first["content"]}, *rest[1:]]
        else:
            out = [{"role": "user", "content": system["content"]}, *rest]
    return out
