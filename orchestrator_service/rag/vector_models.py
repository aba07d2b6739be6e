"""The remote (Supabase) vector table, owned by the healer like the local schema.

Compatible with LangChain's SupabaseVectorStore (`id`, `content`, `metadata`, `embedding`, here
of any dimension)
plus real, indexed columns for what every query filters on, so tenant isolation is a column
predicate inside the vector query and never a filter applied afterwards.
"""

import uuid
from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import Computed, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import VectorBase


class DocumentChunk(VectorBase):
    """One chunk of a document with its embedding."""

    __tablename__ = "documents"
    __table_args__ = (
        Index(None, "tenant_id", "source_id"),
        Index(None, "tenant_id", "collection"),
        # LangChain-style deletes filter on metadata->>'source_id'; without this index each
        # such delete scans the whole table.
        Index("ix_documents_metadata_source_id", text("(metadata ->> 'source_id')")),
        Index("ix_documents_content_tsv", "content_tsv", postgresql_using="gin"),
        # Each model's dimension, read from one of its rows (orch_model_dimensions) so that
        # writers never mix two dimensions under one model. The HNSW indexes are per model and
        # dimension (partial, on `embedding::vector(n)`): the reconciler builds them, since
        # which models exist is known only from the data (step 0024).
        Index("ix_documents_model_dimensions", "embedding_model", text("vector_dims(embedding)")),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    content: Mapped[str] = mapped_column(Text, nullable=False)
    meta: Mapped[dict] = mapped_column("metadata", JSONB, nullable=False)
    # Untyped: each model's vectors keep their own dimension.
    embedding: Mapped[list[float]] = mapped_column(Vector(), nullable=False)
    tenant_id: Mapped[int] = mapped_column(Integer, nullable=False)
    source_id: Mapped[str] = mapped_column(String(64), nullable=False)
    collection: Mapped[str] = mapped_column(String(100), nullable=False)
    chunk_index: Mapped[int] = mapped_column(Integer, nullable=False)
    embedding_model: Mapped[str] = mapped_column(String(200), nullable=False)
    # Which ingestion wrote the chunk: a replace or reindex writes a new generation first
    # and deletes the old one only after it succeeded.
    generation: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Full-text search in both languages the seeds' users write (hybrid mode).
    content_tsv: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed(
            "to_tsvector('spanish'::regconfig, content) "
            "|| to_tsvector('english'::regconfig, content)",
            persisted=True,
        ),
    )


class VisibleDocument(VectorBase):
    """Which generation of a document search may return: a chunk is searchable only while its
    (tenant, document, generation) is here. Kept by the same transitions as the metadata, which
    stays the source of truth (search checks its hits there; the reconciler repairs this).

    A new generation is published before the metadata switches to it and keeps the one it
    displaces in `previous_generation` until the old chunks are deleted, so whichever of the
    two the metadata names at that moment, its chunks are candidates.
    """

    __tablename__ = "visible_documents"

    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[str] = mapped_column(String(64), nullable=False)
    previous_generation: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
