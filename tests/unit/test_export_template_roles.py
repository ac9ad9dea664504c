"""forge.export.template_choice.with_training_roles: the exported template maps roles as training did."""

from __future__ import annotations

import pytest

from forge.export.template_choice import ROLE_PROBES, with_training_roles
from forge.models.jinja_render import render
from forge.models.template_roles import adapt_messages, role_support
from forge.models.templates import TEMPLATES

STRICT = (  # user/assistant only, alternating, as Gemma 3's and old Mistral templates insist
    "{% for m in messages %}{% if m['role'] not in ['user', 'assistant'] %}"
    "{{ raise_exception('roles must be user or assistant') }}{% endif %}"
    "{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('alternate') }}{% endif %}"
    "<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


@pytest.mark.parametrize("name", ["llama-3", "chatml", "phi-3"])
def test_a_template_with_every_role_is_left_alone(name):
    jinja = TEMPLATES[name].jinja
    assert with_training_roles(jinja, {}) == (jinja, None)


def test_no_tool_and_no_system_role_mapped_inside_the_template():
    roles = role_support(STRICT)
    assert not roles.tool and not roles.system
    mapped, note = with_training_roles(STRICT, {})
    assert "tool turns" in note and "system text" in note
    for msgs in ROLE_PROBES:
        try:
            want = render(STRICT, adapt_messages(msgs, roles), True)
        except Exception:
            continue
        assert render(mapped, msgs, True) == want
    # what the strict template alone refuses, the exported one renders as training saw it
    import jinja2

    with pytest.raises(jinja2.TemplateError):
        render(STRICT, ROLE_PROBES[0])
    assert render(mapped, ROLE_PROBES[0]).startswith("<user>You call tools.\n\nWeather in Oslo?</user>")


def test_text_only_conversations_render_unchanged():
    mapped, _ = with_training_roles(TEMPLATES["gemma-3"].jinja, {"bos_token": "<bos>"})
    msgs = [{"role": "user", "content": "  hi  "}, {"role": "assistant", "content": "yo\n"}]
    assert render(mapped, msgs, True, {"bos_token": "<bos>"}) == render(
        TEMPLATES["gemma-3"].jinja, msgs, True, {"bos_token": "<bos>"}
    )
