"""Which chat template the exported model carries, and its Ollama twin (torch-free).

The exported model keeps the model's own template where it can: a Gemma 3 VLM ships the official
template, which renders list content and images (`<start_of_image>`); forge's text-only `gemma-3`
template renders a list as Python text. When the adapter was trained with a named template and the
base model's own template renders the same text for text conversations (the probes below), the
base's own goes into the merged folder and the GGUF: prompts are unchanged for everything training
saw, and images work. Otherwise the adapter's template is kept as it is.

The Modelfile's Go template is picked the same way, by what a template renders rather than by its
name, tool and system turns included, as training mapped them: the official Gemma 3 template
(with training's role mapping in front) gets the gemma-3 Go twin, which maps the roles the same
way. A template no twin renders like gets no TEMPLATE line, and the export report says why.
"""

from __future__ import annotations

from pathlib import Path

from forge.models.facts import own_chat_template

PROBES: list[list[dict]] = [
    [{"role": "user", "content": "Hello there."}, {"role": "assistant", "content": "Hi! How can I help?"}],
    [
        {"role": "system", "content": "You are brief."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "And 3 + 3?"},
    ],
]


def renders_alike(a: str, b: str, special: dict[str, str]) -> bool:
    """True when both templates give the same text for every probe (with and without a generation prompt)."""
    from forge.models.jinja_render import render

    try:
        for msgs in PROBES:
            for gen in (False, True):
                if render(a, msgs, gen, special) != render(b, msgs, gen, special):
                    return False
    except Exception:  # a template that refuses a probe (e.g. a role it does not know) is not alike
        return False
    return True


def keep_template(trained_jinja: str, base_folder: str | Path, special: dict[str, str]) -> tuple[str, str | None]:
    """(the template to export, a note when it is the base model's own instead of the trained one)."""
    own = own_chat_template(Path(base_folder))  # the model's own, as read_facts reads it
    if not own or own.strip() == trained_jinja.strip():
        return trained_jinja, None
    if renders_alike(own, trained_jinja, special):
        return own, (
            "chat template: the base model's own template is kept (it renders every text conversation "
            "exactly as the template trained with, and also handles list content and images)"
        )
    return trained_jinja, None


def go_twin(jinja: str, special: dict[str, str]) -> str | None:
    """The name of the forge template whose Go twin renders like `jinja` as training rendered it, or None.

    A twin renders forge's named template with training's role mapping (adapt_messages), so the
    comparison is the named template, mapped, against `jinja`, mapped (a no-op where `jinja`
    carries the mapping already), over conversations with system, tool and several user turns and
    every prefix of them Ollama could be asked to continue. A probe `jinja` refuses is skipped:
    training never rendered it. Contents have no surrounding white space, as Go cannot trim
    (forge.export.modelfile). tests/unit/test_modelfile_twins.py renders each twin as Ollama does."""
    from forge.export.modelfile import GO_TEMPLATES
    from forge.models.templates import TEMPLATES

    for name in GO_TEMPLATES:
        if TEMPLATES[name].jinja.strip() == jinja.strip() or _renders_as_trained(jinja, TEMPLATES[name].jinja, special):
            return name
    return None


def as_trained(jinja: str, messages: list[dict], gen: bool, special: dict[str, str]) -> str:
    """`messages` rendered by `jinja` as training renders them: in the roles the template has."""
    from forge.models.jinja_render import render
    from forge.models.template_roles import adapt_messages, role_support

    return render(jinja, adapt_messages(messages, role_support(jinja, tuple(sorted(special.items())))), gen, special)


def twin_probes() -> list[list[dict]]:
    """Every probe conversation and each of its prefixes that ends on a user, tool or assistant
    turn, contents stripped: what the Go twins must render as the Jinja does."""
    out = []
    for msgs in ROLE_PROBES + PROBES:
        msgs = [{**m, "content": m["content"].strip()} for m in msgs]
        out += [msgs[:k] for k in range(1, len(msgs) + 1) if msgs[k - 1]["role"] != "system"]
    return out


def _renders_as_trained(exported: str, named: str, special: dict[str, str]) -> bool:
    for msgs in twin_probes():
        for gen in (False, True):
            try:
                want = as_trained(exported, msgs, gen, special)
            except Exception:  # the exported template refuses it: training never rendered it
                continue
            try:
                if as_trained(named, msgs, gen, special) != want:
                    return False
            except Exception:
                return False
    return True


# The exported template maps roles as training did (forge.models.template_roles.adapt_messages):
# without it, a model trained on tool-calling data under a template with no tool role (Gemma 3's
# official one raises on it) would refuse the same conversations at inference.
_TOOL_PRELUDE = """\
{%- set ns = namespace(out=[], joined=false) -%}
{%- for m in messages -%}
{%- if m['role'] == 'tool' or (ns.joined and m['role'] == 'user') -%}
{%- if ns.out and ns.out[-1]['role'] == 'user' and ns.out[-1]['content'] is string and m['content'] is string -%}
{%- set ns.out = ns.out[:-1] + [{'role': 'user', 'content': ns.out[-1]['content'] + '\\n\\n' + m['content']}] -%}
{%- else -%}
{%- set ns.out = ns.out + [{'role': 'user', 'content': m['content']}] -%}
{%- endif -%}
{%- set ns.joined = true -%}
{%- else -%}
{%- set ns.joined = false -%}
{%- set ns.out = ns.out + [m] -%}
{%- endif -%}
{%- endfor -%}
"""
_SYSTEM_PRELUDE = """\
{%- if ns.out and ns.out[0]['role'] == 'system' -%}
{%- set rest = ns.out[1:] -%}
{%- if rest and rest[0]['role'] == 'user' -%}
{%- set ns.out = [{'role': 'user', 'content': (ns.out[0]['content'] | trim) + '\\n\\n' + rest[0]['content']}] + rest[1:] -%}
{%- else -%}
{%- set ns.out = [{'role': 'user', 'content': ns.out[0]['content']}] + rest -%}
{%- endif -%}
{%- endif -%}
"""
_COPY = "{%- set ns = namespace(out=messages, joined=false) -%}\n"

ROLE_PROBES: list[list[dict]] = [
    [
        {"role": "system", "content": "  You call tools.  "},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": '{"name": "weather", "arguments": {"city": "Oslo"}}'},
        {"role": "tool", "content": '{"temp": 3}'},
        {"role": "tool", "content": '{"wind": 5}'},
        {"role": "user", "content": "And tomorrow?"},
        {"role": "assistant", "content": "3 degrees, windy."},
    ],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Hi."},
    ],
    [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."}, {"role": "tool", "content": "x"}],
    [
        {"role": "system", "content": "Use the tools."},
        {"role": "user", "content": "Stock of lamp A?"},
        {"role": "assistant", "content": '{"name": "stock", "arguments": {"item": "A"}}'},
        {"role": "tool", "content": '{"count": 4}'},
        {"role": "assistant", "content": "4 in stock."},
        {"role": "user", "content": "And lamp B?"},
        {"role": "assistant", "content": '{"name": "stock", "arguments": {"item": "B"}}'},
        {"role": "tool", "content": '{"count": 0}'},
        {"role": "tool", "content": '{"restock": "May"}'},
        {"role": "assistant", "content": "None until May."},
    ],
]


def with_training_roles(jinja: str, special: dict[str, str]) -> tuple[str, str | None]:
    """(the template with training's role mapping in front, a note), or (jinja, None) where the
    template has every role or the mapped template would not render as training did."""
    from forge.models.jinja_render import render
    from forge.models.template_roles import adapt_messages, role_support

    roles = role_support(jinja, tuple(sorted(special.items())))
    if roles.tool and roles.system:
        return jinja, None
    prelude = (_COPY if roles.tool else _TOOL_PRELUDE) + ("" if roles.system else _SYSTEM_PRELUDE)
    mapped = prelude + "{%- set messages = ns.out %}" + jinja  # nothing between: the template's own text is untouched
    try:
        for msgs in ROLE_PROBES + PROBES:
            for gen in (False, True):
                try:
                    want = render(jinja, adapt_messages(msgs, roles), gen, special)
                except Exception:  # training refuses this conversation too: nothing to compare
                    continue
                if render(mapped, msgs, gen, special) != want:
                    return jinja, None
    except Exception:
        return jinja, None
    return mapped, "chat template: " + "; ".join(roles.mapping()) + ", inside the exported template, as in training"
