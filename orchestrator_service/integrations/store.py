"""Synced items become the user's own `emails` and `calendar_events` rows (private, owned by the
integration's user), upserted on the provider's id so a page stored twice changes nothing."""

import uuid
from email.utils import parseaddr

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.calendar.models import CalendarEvent
from orchestrator_service.integrations.items import EventItem, MailItem
from orchestrator_service.integrations.models import Integration
from orchestrator_service.mail.models import Email

# The `provider` column of the rows each kind writes.
PROVIDER_OF = {
    "gmail": "gmail",
    "outlook_mail": "outlook",
    "google_calendar": "google",
    "outlook_calendar": "outlook",
}


def _mail_row(integration: Integration, item: MailItem) -> dict:
    name, address = parseaddr(item.sender)
    return {
        "subject": item.subject[:998],
        "body_text": item.body,
        "from_address": (address or item.sender)[:320],
        "from_name": name[:255] or None,
        "to_addresses": item.recipients,
        "is_read": item.is_read,
        "is_important": item.is_important,
        "labels": item.labels,
        "sent_at": item.sent_at,
        "thread_key": (item.thread_id or item.external_id)[:998],
        "external_thread_id": (item.thread_id or "")[:255] or None,
    }


def _event_row(item: EventItem) -> dict:
    return {
        "title": item.title[:255] or "(no title)",
        "description": item.description or None,
        "location": item.location[:500] or None,
        "start_time": item.starts_at,
        "end_time": item.ends_at,
        "timezone": item.timezone,
        "is_all_day": item.all_day,
        "status": item.status if item.status in ("confirmed", "tentative") else "confirmed",
    }


class WorkspaceStore:
    """Writes synced mail and events into the workspace's tables."""

    async def save(
        self,
        session: AsyncSession,
        integration: Integration,
        item: MailItem | EventItem,
        local_id: uuid.UUID | None,
    ) -> uuid.UUID:
        """Upsert the item's row (on tenant, owner, provider and provider id); its id."""
        if isinstance(item, MailItem):
            model, fields = Email, _mail_row(integration, item)
        else:
            model, fields = CalendarEvent, _event_row(item)
        key = {
            "tenant_id": integration.tenant_id,
            "owner_user_id": integration.owner_user_id,
            "provider": PROVIDER_OF[integration.kind],
            "external_id": item.external_id[:255],
        }
        statement = (
            insert(model)
            .values(
                id=local_id or uuid.uuid4(),
                integration_id=integration.id,
                visibility="private",
                **key,
                **fields,
            )
            .on_conflict_do_update(
                index_elements=list(key), set_={"integration_id": integration.id, **fields}
            )
            .returning(model.id)
        )
        return (await session.execute(statement)).scalar_one()

    async def remove(
        self, session: AsyncSession, integration: Integration, local_ids: list[uuid.UUID]
    ) -> None:
        """Delete the integration's rows the provider deleted."""
        if not local_ids:
            return
        model = Email if integration.kind in ("gmail", "outlook_mail") else CalendarEvent
        await session.execute(
            delete(model).where(
                model.tenant_id == integration.tenant_id,
                model.integration_id == integration.id,
                model.id.in_(local_ids),
            )
        )
