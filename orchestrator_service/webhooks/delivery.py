"""Delivering webhook messages: sign, POST through the SSRF guard within a deadline and a size
cap, record the attempt, then succeed, retry later (exponential backoff), or give up; an
endpoint that keeps failing is disabled.

No transaction is open during the POST: read, commit, call, record. No redirect is followed
(a receiver answering 3xx has failed), and what a failure is recorded as is a fixed phrase
(outbound.failure), never a library's text or the receiver's body.
"""

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.audit.service import Actor
from orchestrator_service.credentials.service import SecretResolver
from orchestrator_service.error_log.service import record as record_error
from orchestrator_service.errors import NotFound, OrchestratorError
from orchestrator_service.outbound import TooLarge, failure, read_capped
from orchestrator_service.tools.ssrf import BlockedDestination, Guard, GuardedTransport
from orchestrator_service.webhooks import signing
from orchestrator_service.webhooks.events import publish
from orchestrator_service.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)


def signing_credential(webhook_id: uuid.UUID) -> str:
    """The vault credential holding an endpoint's signing secret."""
    return f"webhook:{webhook_id}:signing"


def previous_credential(webhook_id: uuid.UUID) -> str:
    """The vault credential holding an endpoint's rotated-out secret, during its grace."""
    return f"webhook:{webhook_id}:previous"


@dataclass(frozen=True)
class DeliveryPolicy:
    """Bounds and retries of deliveries."""

    timeout: float
    max_response_bytes: int
    max_attempts: int
    retry_base: float
    retry_max: float
    disable_after: int

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones: base, 2x base, 4x..."""
        return min(self.retry_max, self.retry_base * 2.0 ** max(attempts - 1, 0))


@dataclass
class _Outcome:
    status_code: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


class WebhookDeliverer:
    """Delivers queued webhook messages, one try per call."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        secrets: SecretResolver,
        guard: Guard,
        policy: DeliveryPolicy,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._secrets = secrets
        self._guard = guard
        self.policy = policy

    async def deliver(self, delivery_id: uuid.UUID) -> float | None:
        """Try a pending delivery once; the seconds to wait before trying again, or None when
        it is done (succeeded, given up, or nothing to do)."""
        async with self._sessionmaker.begin() as session:
            found = (
                await session.execute(
                    select(WebhookDelivery, Webhook)
                    .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                    .where(WebhookDelivery.id == delivery_id)
                )
            ).first()
            if found is None or found[0].status != "pending":
                return None
            delivery, webhook = found
            if not webhook.is_active:
                delivery.status, delivery.last_error = "skipped", "the endpoint is disabled"
                return None
        started = time.perf_counter()
        outcome = await self._attempt(delivery, webhook)
        return await self._record(delivery, webhook, outcome, started)

    async def _secrets_of(self, webhook: Webhook) -> list[str]:
        """The current signing secret, and the previous one while its grace lasts."""
        actor = Actor(
            tenant_id=webhook.tenant_id, user_id=None, key_id=None, label="webhook-delivery"
        )
        names = [signing_credential(webhook.id)]
        expires = webhook.previous_secret_expires_at
        if expires is not None and expires > datetime.now(UTC):
            names.append(previous_credential(webhook.id))
        found = []
        for name in names:
            try:
                found.append(
                    await self._secrets.resolve(
                        tenant_id=webhook.tenant_id,
                        name=name,
                        consumer=f"webhook:{webhook.id}",
                        destination=None,
                        actor=actor,
                    )
                )
            except NotFound:
                continue
        return found

    async def _attempt(self, delivery: WebhookDelivery, webhook: Webhook) -> _Outcome:
        """One POST of the message, within the deadline and the size cap."""
        try:
            secrets = await self._secrets_of(webhook)
        except OrchestratorError:
            return _Outcome(error="the signing secret cannot be read from the vault")
        if not secrets:
            return _Outcome(error="the endpoint has no signing secret in the vault")
        body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)
        try:
            headers = signing.headers(
                secrets, f"msg_{delivery.id.hex}", int(datetime.now(UTC).timestamp()), body
            )
        except ValueError:  # the vault credential was overwritten with something else
            return _Outcome(error="the signing secret in the vault is not a whsec_ secret")
        headers["user-agent"] = "orchestrator-webhooks/1"
        try:
            async with (
                asyncio.timeout(self.policy.timeout),
                httpx.AsyncClient(
                    transport=GuardedTransport(self._guard),
                    timeout=self.policy.timeout,
                    follow_redirects=False,
                ) as client,
                client.stream(
                    "POST", webhook.url, content=body.encode(), headers=headers
                ) as answer,
            ):
                await read_capped(answer, self.policy.max_response_bytes)
        except BlockedDestination:
            return _Outcome(error="the destination is not allowed (private or internal address)")
        except TooLarge:
            return _Outcome(error="the receiver's answer was larger than allowed")
        except TimeoutError:
            return _Outcome(error="the receiver did not answer in time")
        except httpx.HTTPError as exc:
            return _Outcome(error=failure(exc))
        if 300 <= answer.status_code < 400:
            return _Outcome(answer.status_code, "the receiver redirected (not followed)")
        if not 200 <= answer.status_code < 300:
            return _Outcome(answer.status_code, f"the receiver answered {answer.status_code}")
        return _Outcome(answer.status_code)

    async def _record(
        self, delivery: WebhookDelivery, webhook: Webhook, outcome: _Outcome, started: float
    ) -> float | None:
        """Log the attempt and move the delivery on; the retry delay, if any."""
        now = datetime.now(UTC)
        retry = None
        async with self._sessionmaker.begin() as session:
            row = await session.get(WebhookDelivery, delivery.id, with_for_update=True)
            endpoint = await session.get(Webhook, webhook.id, with_for_update=True)
            if row is None or endpoint is None:  # deleted meanwhile
                return None
            row.attempts += 1
            row.last_status_code, row.last_error = outcome.status_code, outcome.error
            session.add(
                WebhookAttempt(
                    tenant_id=row.tenant_id,
                    delivery_id=row.id,
                    attempt=row.attempts,
                    succeeded=outcome.succeeded,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=int((time.perf_counter() - started) * 1000),
                )
            )
            if outcome.succeeded:
                row.status, row.delivered_at, row.next_attempt_at = "succeeded", now, None
                endpoint.consecutive_failures = 0
                return None
            endpoint.consecutive_failures += 1
            await record_error(
                session,
                tenant_id=row.tenant_id,
                kind="webhook_delivery",
                code="delivery_failed",
                message=f"Delivery to {_host(endpoint.url)} failed: {outcome.error}",
                subject=f"webhook:{endpoint.id}",
                scrubber=self._secrets.scrubber(row.tenant_id),
            )
            if endpoint.is_active and endpoint.consecutive_failures >= self.policy.disable_after:
                endpoint.is_active, endpoint.disabled_reason = False, "failures"
                await publish(
                    session,
                    tenant_id=endpoint.tenant_id,
                    event="webhook.disabled",
                    data={
                        "webhook_id": str(endpoint.id),
                        "consecutive_failures": endpoint.consecutive_failures,
                    },
                )
            if endpoint.is_active and row.attempts < self.policy.max_attempts:
                retry = self.policy.backoff(row.attempts)
                row.next_attempt_at = now + timedelta(seconds=retry)
            else:
                row.status, row.next_attempt_at = "failed", None
        return retry


def _host(url: str) -> str:
    return httpx.URL(url).host or "an unnamed host"
