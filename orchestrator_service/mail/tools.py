"""The built-in tools `search_email` and `send_email` (which asks for confirmation)."""

from typing import TYPE_CHECKING

from orchestrator_service.errors import InvalidInput
from orchestrator_service.mail import service
from orchestrator_service.mail.schemas import SendRequest
from orchestrator_service.schemas import validated

if TYPE_CHECKING:
    from orchestrator_service.tools.builtins import ToolContext


async def search_email(arguments: dict, context: "ToolContext") -> dict:
    """Full-text search over the user's mail (subject, sender, body)."""
    hits = await service.search_emails(
        context.session,
        tenant_id=context.tenant_id,
        user_id=context.user_id,
        query=arguments["query"],
        limit=arguments.get("limit", 5),
    )
    return {
        "results": [
            {
                "id": str(h.id),
                "subject": h.subject,
                "from": h.from_address,
                "sent_at": h.sent_at.isoformat() if h.sent_at else None,
                "highlight": h.highlight,
                "body": (h.body_text or "")[:2000],
            }
            for h in hits
        ]
    }


async def send_email(arguments: dict, context: "ToolContext") -> dict:
    """Send a message from the user's mail account (runs only once confirmed)."""
    if context.mailer is None or context.user_id is None:
        raise InvalidInput("Sending mail needs a user with a mail account")
    email = await context.mailer.send(
        tenant_id=context.tenant_id,
        user_id=context.user_id,
        request=validated(SendRequest, arguments),
        actor=context.audit_actor(),
    )
    return {"status": "sent", "id": str(email.id), "message_id": email.message_id}


SPECS = {
    "search_email": {
        "description": "Search the user's email by words in the subject, sender or body.",
        "function_schema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": 500},
                "limit": {"type": "integer", "minimum": 1, "maximum": 20},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    },
    "send_email": {
        "description": "Send an email from the user's account (needs the user's confirmation).",
        "requires_confirmation": True,
        "function_schema": {
            "type": "object",
            "properties": {
                "to": {
                    "type": "array",
                    "items": {"type": "string", "maxLength": 320},
                    "minItems": 1,
                    "maxItems": 50,
                },
                "cc": {
                    "type": "array",
                    "items": {"type": "string", "maxLength": 320},
                    "maxItems": 50,
                },
                "subject": {"type": "string", "maxLength": 998},
                "body_text": {"type": "string", "maxLength": 100000},
            },
            "required": ["to", "subject", "body_text"],
            "additionalProperties": False,
        },
    },
}
