"""Local RAG metadata (seed 003 `rag_documents` plus status, progress and integrity columns)."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base


class RagDocument(Base):
    """An uploaded document; its chunks and embeddings live in the vector store."""

    __tablename__ = "rag_documents"
    __table_args__ = (
        Index(None, "tenant_id", "collection", "status"),
        # Search finds the models of a tenant's ready documents by a loose scan of this.
        Index(None, "tenant_id", "status", "collection", "embedding_model"),
        # One live copy of the same bytes per tenant and collection (dedup, race-free).
        Index(
            "uq_rag_documents_live_content",
            "tenant_id",
            "collection",
            "content_hash",
            unique=True,
            postgresql_where=text("status NOT IN ('failed', 'deleting')"),
        ),
    )

    id: Mapped[str] = mapped_column(String, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    collection: Mapped[str] = mapped_column(String(100))
    file_type: Mapped[str] = mapped_column(String(50))
    file_path: Mapped[str | None] = mapped_column(String(500))
    # Seed quirk kept: a timestamp without time zone, written in UTC.
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())

    status: Mapped[str] = mapped_column(String(20), server_default=text("'queued'"))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    mime_type: Mapped[str | None] = mapped_column(String(255))
    chunk_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    chunks_done: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    chunks_total: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    meta: Mapped[dict] = mapped_column("metadata", JSONB, server_default=text("'{}'::jsonb"))
    # The vector-store generation that search shows; a replace or reindex writes a new one
    # first and switches this column in one metadata update.
    generation: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
