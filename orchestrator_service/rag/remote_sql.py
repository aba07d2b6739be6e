"""The remote vector schema as SQL, for teams that can only paste SQL into Supabase."""

from sqlalchemy.schema import CreateIndex, CreateTable

from orchestrator_service.db.base import VECTOR_EXTENSIONS
from orchestrator_service.db.heal.desired import DIALECT
from orchestrator_service.db.heal.targets import steps_of
from orchestrator_service.rag.vector_models import DocumentChunk, VisibleDocument


def remote_schema_sql() -> str:
    """Extension, `documents` and `visible_documents` tables, their indexes and the search
    functions, idempotent."""
    statements = [f'CREATE EXTENSION IF NOT EXISTS "{e}"' for e in VECTOR_EXTENSIONS]
    for model in (DocumentChunk, VisibleDocument):
        table = model.metadata.tables[model.__tablename__]
        create = str(CreateTable(table, if_not_exists=True).compile(dialect=DIALECT)).strip()
        statements.append(create)
        statements += [
            str(CreateIndex(index, if_not_exists=True).compile(dialect=DIALECT)).strip()
            for index in sorted(table.indexes, key=lambda i: str(i.name))
        ]
    statements += [step.sql.strip() for step in steps_of("vectors")]
    return ";\n\n".join(statements) + ";\n"
