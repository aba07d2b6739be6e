"""Business assets (seed 003: branding, scripts, ROI material)."""

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base


class BusinessAsset(Base):
    """A tenant's structured business content.

    The seed declares `tenant_id` VARCHAR(50); migration step 0001 converts it to INTEGER.
    """

    __tablename__ = "business_assets"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    asset_type: Mapped[str] = mapped_column(String(50))
    content: Mapped[dict] = mapped_column(JSONB, nullable=False)
    # Seed quirk kept: a timestamp without time zone, written in UTC.
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
