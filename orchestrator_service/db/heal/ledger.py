"""The healer's ledger: applied steps, and the state of the last verified heal."""

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

STEPS_TABLE = "orchestrator_heal_steps"
STATE_TABLE = "orchestrator_heal_state"


def add_ledger_tables(metadata: MetaData) -> None:
    """Declare the ledger tables in `metadata` so they are created and drift-checked too."""
    Table(
        STEPS_TABLE,
        metadata,
        Column("step_id", String(200), primary_key=True),
        Column("checksum", String(64), nullable=False),
        Column("description", Text),
        Column("duration_ms", Integer, nullable=False),
        Column("host", String(255), nullable=False),
        Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    Table(
        STATE_TABLE,
        metadata,
        Column("id", SmallInteger, primary_key=True),
        Column("schema_hash", String(64), nullable=False),
        Column("catalog_fingerprint", String(32), nullable=False),
        Column("drift", JSONB, nullable=False),
        Column("host", String(255), nullable=False),
        Column("healed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        CheckConstraint("id = 1", name="single_row"),
    )
