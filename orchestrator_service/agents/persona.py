"""An agent's system prompt: its template rendered, with its personality and expertise
(seed 001) available as `{{ personality }}` and `{{ expertise }}` and, where the template does
not place them itself, added after it."""

from typing import Any

from orchestrator_service.agents.templates import render

PERSONA_FIELDS = ("personality", "expertise")


def system_prompt(agent: Any, variables: dict[str, object]) -> tuple[str, list[str]]:
    """The rendered system prompt and the variables left missing. The agent's own personality
    and expertise win over run variables of the same name."""
    template = agent.system_prompt_template
    persona = {name: value for name in PERSONA_FIELDS if (value := getattr(agent, name, None))}
    text, missing = render(template, {**variables, **persona})
    placed = set(render(template, {})[1])  # every variable the template names
    extra = [
        f"{name.capitalize()}: {value}" for name, value in persona.items() if name not in placed
    ]
    return "\n\n".join([text, *extra]), missing
