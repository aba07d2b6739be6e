"""Sending mail through a user's SMTP account (aiosmtplib): the password from the vault, the
SMTP host vetted by the SSRF guard before any socket opens, a deadline on the whole exchange,
and the sent message stored in the user's mailbox."""

import asyncio
import socket
import uuid
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.credentials.service import SecretResolver
from orchestrator_service.errors import InvalidInput, OrchestratorError
from orchestrator_service.mail import service
from orchestrator_service.mail.models import Email
from orchestrator_service.mail.parsing import compose_id, parse_message
from orchestrator_service.mail.schemas import SendRequest
from orchestrator_service.storage import ObjectStore
from orchestrator_service.tools.ssrf import Guard

SMTP_TIMEOUT_SECONDS = 30.0
MAX_MESSAGE_BYTES = 2 * 1024 * 1024


class SendFailed(OrchestratorError):
    """The SMTP server could not be reached or refused the message; nothing was stored."""

    status_code = 502
    code = "send_failed"


class Mailer:
    """Sends a user's mail; no transaction is open while the SMTP server is talked to."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        secrets: SecretResolver,
        guard: Guard,
        files: ObjectStore,
        timeout: float = SMTP_TIMEOUT_SECONDS,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._secrets = secrets
        self._guard = guard
        self._files = files
        self.timeout = timeout

    async def send(
        self, *, tenant_id: int, user_id: uuid.UUID | None, request: SendRequest, actor: Any
    ) -> Email:
        """Send a message from the user's account and store it (label SENT)."""
        async with self._sessionmaker.begin() as session:
            account = await service.get_account(session, tenant_id=tenant_id, user_id=user_id)
            replied = None
            if request.in_reply_to is not None:
                replied = await service.get_email(
                    session, tenant_id=tenant_id, user_id=user_id, email_id=request.in_reply_to
                )
            message = _compose(account, request, replied)
        raw = message.as_bytes(policy=policy.SMTP)
        if len(raw) > MAX_MESSAGE_BYTES:
            raise InvalidInput(f"The message is larger than {MAX_MESSAGE_BYTES} bytes")
        # Vetted first: a private, loopback or metadata address is refused before the secret
        # is read and before any socket opens.
        address = await self._guard.vet(account.smtp_host, account.smtp_port)
        password = await self._secrets.resolve(
            tenant_id=tenant_id,
            name=account.credential_name,
            consumer="smtp",
            destination=account.smtp_host,
            actor=actor,
        )
        recipients = [str(a) for a in (*request.to, *request.cc, *request.bcc)]
        await self._deliver(account, address, password, message, recipients)
        parsed = parse_message(raw)
        parsed.bcc_addresses = [str(a) for a in request.bcc]
        if replied is not None:
            parsed.thread_key = replied.thread_key
        async with self._sessionmaker.begin() as session:
            return await service.store_message(
                session,
                self._files,
                parsed,
                tenant_id=tenant_id,
                user_id=user_id,
                actor=actor,
                provider="smtp",
                external_id=parsed.message_id,
                direction="outbound",
                labels=["SENT"],
                is_read=True,
            )

    async def _deliver(
        self,
        account: Any,
        address: str,
        password: str,
        message: EmailMessage,
        recipients: list[str],
    ) -> None:
        host, port = account.smtp_host, account.smtp_port
        try:
            async with asyncio.timeout(self.timeout):
                sock = await _connect(address, port)
                client = aiosmtplib.SMTP(
                    hostname=host.strip("[]"),
                    sock=sock,
                    use_tls=account.security == "tls",
                    start_tls=account.security == "starttls",
                    timeout=self.timeout,
                )
                async with client:
                    await client.login(account.username, password)
                    await client.send_message(
                        message, sender=account.from_address, recipients=recipients
                    )
        except TimeoutError:
            raise SendFailed(f"The SMTP server {host} did not answer in time") from None
        except aiosmtplib.SMTPAuthenticationError:
            raise SendFailed(f"The SMTP server {host} refused the account's credentials") from None
        except aiosmtplib.SMTPRecipientsRefused:
            raise SendFailed(f"The SMTP server {host} refused the recipients") from None
        except (aiosmtplib.SMTPException, OSError):
            raise SendFailed(f"The message could not be sent through {host}") from None


async def _connect(address: str, port: int) -> socket.socket:
    """A TCP socket connected to a vetted address."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _compose(account: Any, request: SendRequest, replied: Email | None) -> EmailMessage:
    """The message, built with the standard library (which refuses header injection)."""
    message = EmailMessage(policy=policy.SMTP)
    try:
        message["From"] = formataddr((account.from_name or "", account.from_address))
        message["To"] = ", ".join(str(a) for a in request.to)
        if request.cc:
            message["Cc"] = ", ".join(str(a) for a in request.cc)
        message["Subject"] = request.subject
        message["Date"] = format_datetime(datetime.now(UTC))
        domain = account.from_address.rpartition("@")[2] or "localhost"
        message["Message-ID"] = compose_id(domain)
        if replied is not None and replied.message_id:
            message["In-Reply-To"] = replied.message_id
            message["References"] = replied.message_id
    except ValueError:
        raise InvalidInput(
            "A header of the message holds a line break or an invalid value"
        ) from None
    message.set_content(request.body_text or "")
    return message
