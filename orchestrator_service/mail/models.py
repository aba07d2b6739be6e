"""Email (seed 001's `emails`): stored messages with threads, labels and flags, their
attachments (kept as files in the object store), and a user's SMTP settings for sending."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base, CreatedAtMixin, TimestampMixin, UserOwnedMixin
from orchestrator_service.db.fulltext import bilingual_vector

DIRECTIONS = ("inbound", "outbound")


class Email(UserOwnedMixin, TimestampMixin, Base):
    """One message of a user's mailbox (private by default)."""

    __tablename__ = "emails"
    __table_args__ = (
        # A sync (or an import) upserts on this: one row per message of the provider.
        UniqueConstraint("tenant_id", "owner_user_id", "provider", "external_id"),
        Index(None, "tenant_id", "owner_user_id", "sent_at"),
        Index(None, "tenant_id", "owner_user_id", "thread_key"),
        Index("ix_emails_labels", "labels", postgresql_using="gin"),
        Index("ix_emails_search_vector", "search_vector", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    # Which integration synced it (None: imported from a file, or sent from here).
    integration_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    # 'import', 'smtp' (sent from here), 'gmail', 'outlook'.
    provider: Mapped[str] = mapped_column(String(32), nullable=False, server_default="import")
    external_id: Mapped[str | None] = mapped_column(String(255))
    external_thread_id: Mapped[str | None] = mapped_column(String(255))
    # What groups a thread (a sync sets it to the provider's thread id): else the first
    # Message-ID of the References chain, else the message's own Message-ID.
    thread_key: Mapped[str] = mapped_column(String(998), nullable=False)
    message_id: Mapped[str | None] = mapped_column(String(998))
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    direction: Mapped[str] = mapped_column(String(10), nullable=False, server_default="inbound")
    subject: Mapped[str] = mapped_column(String(998), nullable=False, server_default="")
    body_text: Mapped[str | None] = mapped_column(Text)
    # Stored as received, never rendered by the service: clients must sanitize it.
    body_html: Mapped[str | None] = mapped_column(Text)
    from_address: Mapped[str] = mapped_column(String(320), nullable=False, server_default="")
    from_name: Mapped[str | None] = mapped_column(String(255))
    to_addresses: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    cc_addresses: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    bcc_addresses: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    is_read: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    is_important: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    has_attachments: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    labels: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed(
            bilingual_vector(
                [("subject", "A"), ("from_address", "A"), ("from_name", "A"), ("body_text", "B")]
            ),
            persisted=True,
        ),
    )


class EmailAttachment(CreatedAtMixin, Base):
    """A file attached to a message: metadata here, bytes in the object store (`storage_key`;
    None when the provider holds them and they were not fetched)."""

    __tablename__ = "email_attachments"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    email_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("emails.id", ondelete="CASCADE"), nullable=False, index=True
    )
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str | None] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(String(255))
    content_id: Mapped[str | None] = mapped_column(String(255))
    is_inline: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # The provider's attachment id (Gmail, Graph), to fetch the bytes later.
    external_id: Mapped[str | None] = mapped_column(String(255))


class MailAccount(UserOwnedMixin, TimestampMixin, Base):
    """A user's SMTP settings: where to send from, and the vault credential (by name) holding
    the password; one per user."""

    __tablename__ = "mail_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "owner_user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    smtp_host: Mapped[str] = mapped_column(String(253), nullable=False)
    smtp_port: Mapped[int] = mapped_column(Integer, nullable=False)
    # 'starttls', 'tls' (implicit, port 465) or 'none' (only where the guard allows the host).
    security: Mapped[str] = mapped_column(String(10), nullable=False, server_default="starttls")
    username: Mapped[str] = mapped_column(String(320), nullable=False)
    credential_name: Mapped[str] = mapped_column(String(255), nullable=False)
    from_address: Mapped[str] = mapped_column(String(320), nullable=False)
    from_name: Mapped[str | None] = mapped_column(String(255))
