"""A run's system prompt (the agent's template in its family's frame, then the enabled tools'
`prompt_injection`) and the `response_guide` that goes with each tool result.

Tool guidance is tenant text (and a global tool's is the platform's) that lands in every run
of every agent that enables the tool, so it is bounded and cannot pass for anything but what
it is: each tool's text sits in a `<tool_guidance name="...">` block after the agent's own
prompt, with `<` and `>` replaced by the single angle quotation marks U+2039 and U+203A (so
no text opens or closes a block, or imitates any other markup), control characters other
than newline and tab removed, cut at `MAX_PROMPT_INJECTION` characters, and all blocks
together at `MAX_GUIDANCE`; the tools past that budget are named in a closing line instead.
A `response_guide` travels as a JSON string field next to the result (`{"result": ...,
"response_guide": ...}`), so JSON escaping keeps it inside its field.
"""

from collections.abc import Sequence
from typing import Any

from orchestrator_service.agents.templates import frame
from orchestrator_service.tools.schemas import (
    MAX_PROMPT_INJECTION,
    MAX_RESPONSE_GUIDE,
    FunctionTool,
)

# Characters of tool guidance one system prompt may carry, all tools together.
MAX_GUIDANCE = 16_000
_ANGLES = str.maketrans({"<": "\u2039", ">": "\u203a"})
_KEPT_CONTROLS = frozenset("\n\t")


def clean(text: str, limit: int) -> str:
    """Tenant text made inert for a prompt: no angle brackets, no control characters
    (newline and tab kept), at most `limit` characters, surrounding blanks dropped."""
    kept = "".join(c for c in text if c in _KEPT_CONTROLS or (c >= " " and c != "\x7f"))
    return kept.translate(_ANGLES)[:limit].strip()


def system_prompt(
    *, template_type: str | None, agent_name: str, rendered: str, tools: Sequence[FunctionTool]
) -> str:
    """The system prompt of a run: the framed template, then one block per tool that has
    guidance (in the agent's order), within the guidance budget."""
    prompt = frame(template_type, agent_name=agent_name, prompt=rendered)
    blocks: list[str] = []
    left_out: list[str] = []
    budget = MAX_GUIDANCE
    for tool in tools:
        text = clean(tool.prompt_injection or "", MAX_PROMPT_INJECTION)
        if not text:
            continue
        block = f'<tool_guidance name="{tool.function.name}">\n{text}\n</tool_guidance>'
        if len(block) > budget:
            left_out.append(tool.function.name)
            continue
        blocks.append(block)
        budget -= len(block)
    if not blocks and not left_out:
        return prompt
    parts = [prompt, "How to use your tools (from each tool's configuration):", *blocks]
    if left_out:
        parts.append(f"(Guidance of {', '.join(left_out)} left out: over the prompt's budget.)")
    return "\n\n".join(parts)


def tool_result(tools: Sequence[FunctionTool], name: str, output: Any) -> Any:
    """What the model is given for a tool's result: the result itself, or, when the tool has
    a response guide, `{"result": ..., "response_guide": ...}`."""
    tool = next((t for t in tools if t.function.name == name), None)
    guide = clean(tool.response_guide or "", MAX_RESPONSE_GUIDE) if tool else ""
    if not guide:
        return output
    return {"result": output, "response_guide": guide}
