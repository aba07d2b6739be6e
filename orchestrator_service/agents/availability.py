"""Where and whether an agent answers: `is_active` and `channels`.

A run comes through one door, and each door is a channel: `web` (`POST /agents/{id}/runs`,
the console), `api` (the OpenAI-compatible `/v1/chat/completions`), and the Meta channels
`whatsapp`, `instagram`, `facebook`. An agent answers only on the channels it lists, and only
while it is active; anything else is refused before the run is counted or recorded. A run
that answers another agent (`message_agent`) comes through no door: its agent must be active,
and the connection between the agents decides the rest.
"""

from orchestrator_service.agents.models import Agent
from orchestrator_service.errors import Conflict

CHANNELS = ("web", "api", "whatsapp", "instagram", "facebook")
# The channels of an agent created without a list: every door.
DEFAULT_CHANNELS = list(CHANNELS)
# `source` names the door a run came through, as conversations record it.
_SOURCE_CHANNEL = {"openai": "api"}
# Runs that answer another agent: no channel, the agents' connection governs them.
_DOORLESS = frozenset({"agent"})


class AgentInactive(Conflict):
    """The agent is switched off (`is_active` false): it neither lists nor runs for runtimes."""

    code = "agent_inactive"


class ChannelNotAllowed(Conflict):
    """The agent does not answer on the channel the run came through."""

    code = "channel_not_allowed"


def channel_of(source: str) -> str:
    """The channel of a run's door (`openai` is the `api` channel)."""
    return _SOURCE_CHANNEL.get(source, source)


def ensure_active(agent: Agent) -> None:
    """Refuse an inactive agent, saying how to turn it back on."""
    if agent.is_active is False:
        raise AgentInactive(
            f"Agent {agent.id} is inactive: set is_active to true "
            "(PATCH /api/v1/agents/{id}) before running it",
            details={"agent_id": agent.id},
        )


def ensure_runnable(agent: Agent, *, source: str) -> None:
    """Refuse a run of an inactive agent, or from a channel the agent does not list."""
    ensure_active(agent)
    if source in _DOORLESS:
        return
    channel = channel_of(source)
    listed = list(agent.channels or [])
    if channel not in listed:
        raise ChannelNotAllowed(
            f"Agent {agent.id} does not answer on the {channel!r} channel (its channels: "
            f"{', '.join(listed) or 'none'}); add it to the agent's channels to run it here",
            details={"agent_id": agent.id, "channel": channel, "channels": listed},
        )
