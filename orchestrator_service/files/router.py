"""/api/v1/files: attachments to conversations and their messages."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile, status
from fastapi.responses import StreamingResponse

from orchestrator_service.deps import (
    ActorDep,
    FilesDep,
    QuotasDep,
    SessionDep,
    SettingsDep,
    TenantPrincipal,
    require,
)
from orchestrator_service.files import service
from orchestrator_service.files.schemas import FileOut, IngestRequest
from orchestrator_service.rag.schemas import DocumentOut
from orchestrator_service.schemas import Output

router = APIRouter(prefix="/files", tags=["files"])
# A conversation's files, listed where its other parts are.
conversation_files = APIRouter(prefix="/conversations", tags=["files"])
Reader = Annotated[TenantPrincipal, Depends(require("conversations:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("conversations:write"))]
RagWriter = Annotated[TenantPrincipal, Depends(require("rag:write"))]


class IngestOut(Output):
    """A file sent to ingestion: the document it became and the task that follows it."""

    file: FileOut
    document: DocumentOut
    task_id: uuid.UUID


@router.post("", status_code=status.HTTP_201_CREATED)
async def attach_file(
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    store: FilesDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="The file")],
    conversation_id: Annotated[uuid.UUID, Form(description="The conversation it belongs to")],
    message_id: Annotated[uuid.UUID | None, Form(description="A message of it")] = None,
) -> FileOut:
    """Attach a file to a conversation (and optionally one of its messages). Its type is
    sniffed from its bytes; over ORCH_MAX_FILE_BYTES is 413; 503 when object storage is
    unreachable (nothing is kept)."""
    attached = await service.attach(
        session,
        store,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        message_id=message_id,
        filename=file.filename,
        source=file.file,
        max_bytes=settings.max_file_bytes,
        actor=actor,
    )
    return FileOut.model_validate(attached)


@conversation_files.get("/{conversation_id}/files")
async def list_files(
    conversation_id: uuid.UUID, principal: Reader, session: SessionDep
) -> list[FileOut]:
    """The files of a conversation, oldest first (whoever can read it)."""
    rows = await service.list_files(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        conversation_id=conversation_id,
    )
    return [FileOut.model_validate(r) for r in rows]


@router.get("/{file_id}")
async def get_file(file_id: uuid.UUID, principal: Reader, session: SessionDep) -> FileOut:
    """One file's metadata."""
    attached = await service.get_file(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, file_id=file_id
    )
    return FileOut.model_validate(attached)


@router.get(
    "/{file_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The bytes"}},
)
async def download_file(
    file_id: uuid.UUID, principal: Reader, session: SessionDep, store: FilesDep
) -> StreamingResponse:
    """The file's bytes, as an attachment of its sniffed type (never rendered inline)."""
    attached, stored = await service.open_file(
        session, store, tenant_id=principal.tenant_id, user_id=principal.user_id, file_id=file_id
    )
    return StreamingResponse(
        stored.chunks,
        media_type=attached.mime_type,
        headers={
            "Content-Disposition": f'attachment; filename="file-{attached.id}"',
            "Content-Length": str(stored.size),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )


@router.delete("/{file_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_file(
    file_id: uuid.UUID, principal: Writer, actor: ActorDep, session: SessionDep, store: FilesDep
) -> None:
    """Delete a file and its bytes (a document made from it stays)."""
    await service.delete_file(
        session, store, tenant_id=principal.tenant_id, file_id=file_id, actor=actor
    )


@router.post("/{file_id}/ingest", status_code=status.HTTP_202_ACCEPTED)
async def ingest_file(
    file_id: uuid.UUID,
    data: IngestRequest,
    principal: RagWriter,
    actor: ActorDep,
    session: SessionDep,
    store: FilesDep,
    quotas: QuotasDep,
    settings: SettingsDep,
) -> IngestOut:
    """Send the file to RAG ingestion into a collection: a document (the existing one for the
    same bytes) ingested in the background, followed by a task."""
    attached, document, task = await service.ingest(
        session,
        store,
        quotas=quotas,
        max_upload_bytes=settings.max_upload_bytes,
        tenant_id=principal.tenant_id,
        file_id=file_id,
        collection=data.collection,
        actor=actor,
    )
    return IngestOut(
        file=FileOut.model_validate(attached),
        document=DocumentOut.model_validate(document),
        task_id=task.id,
    )
