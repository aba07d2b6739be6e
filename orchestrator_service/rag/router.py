"""/api/v1/rag: document uploads, status and collections."""

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile, status
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, StringConstraints

from orchestrator_service.deps import (
    ActorDep,
    DeleterDep,
    FilesDep,
    KnowledgeDep,
    Paging,
    QuotasDep,
    SessionDep,
    SettingsDep,
    TenantPrincipal,
    require,
)
from orchestrator_service.errors import InvalidInput
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.rag import service
from orchestrator_service.rag.schemas import (
    CollectionOut,
    DocumentOut,
    DocumentStatus,
    SearchRequest,
    SearchResult,
)
from orchestrator_service.schemas import TextId

router = APIRouter(prefix="/rag", tags=["rag"])
Reader = Annotated[TenantPrincipal, Depends(require("rag:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("rag:write"))]
CollectionName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)
]
DEFAULT_COLLECTION = "General"


def _storable(value: Any) -> bool:
    """True when PostgreSQL can store every text in `value`: no NUL character, no unpaired
    surrogate (which JSON escapes such as \\ud800 can carry)."""
    if isinstance(value, str):
        return "\x00" not in value and _encodes(value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _collection(name: str) -> str:
    if not _storable(name):
        raise ValueError("`collection` may not contain NUL characters")
    return name or DEFAULT_COLLECTION


# A form field left blank arrives as absent (FastAPI), so blank is documented as the default.
FormCollection = Annotated[
    str,
    StringConstraints(max_length=100, strip_whitespace=True),
    AfterValidator(_collection),
    Form(description=f"Blank or absent: {DEFAULT_COLLECTION}"),
]


def _metadata(raw: str | None) -> dict:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
        storable = isinstance(value, dict) and _storable(value)
    except ValueError:
        raise InvalidInput("`metadata` must be a JSON object") from None
    except RecursionError:
        raise InvalidInput("`metadata` nests too deep; keep it a flat JSON object") from None
    if not isinstance(value, dict):
        raise InvalidInput("`metadata` must be a JSON object")
    if not storable:
        raise InvalidInput(
            "`metadata` may not contain NUL characters (\\u0000) or unpaired surrogates "
            "(such as \\ud800) in its keys or values"
        )
    return value


@router.post(
    "/documents",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentOut,
    responses={200: {"model": DocumentOut, "description": "Already uploaded: the existing one"}},
)
async def upload_document(
    settings: SettingsDep,
    files: FilesDep,
    quotas: QuotasDep,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="The document")],
    collection: FormCollection = DEFAULT_COLLECTION,
    metadata: Annotated[str | None, Form(description="A JSON object")] = None,
    on_duplicate: Annotated[Literal["return", "replace"], Query()] = "return",
) -> DocumentOut | Response:
    """Upload a document; it is ingested in the background (202, poll its status). A new
    document must fit the tenant's documents and stored-bytes quotas (429 otherwise); 503 when
    object storage is unreachable (nothing is kept: upload again)."""
    document, created = await service.upload(
        session,
        files,
        max_bytes=settings.max_upload_bytes,
        quotas=quotas,
        tenant_id=principal.tenant_id,
        filename=file.filename,
        source=file.file,  # spooled to disk by the form parser past 1 MiB
        collection=collection,
        metadata=_metadata(metadata),
        replace=on_duplicate == "replace",
        actor=actor,
    )
    body = DocumentOut.model_validate(document)
    if not created:
        return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_200_OK)
    return body


@router.get("/documents")
async def list_documents(
    principal: Reader,
    session: SessionDep,
    page: Paging,
    collection: Annotated[str | None, Query(max_length=100)] = None,
    status: DocumentStatus | None = None,
) -> Page[DocumentOut]:
    """List the tenant's documents, by collection and status."""
    documents, cursor = await service.list_documents(
        session, tenant_id=principal.tenant_id, page=page, collection=collection, status=status
    )
    return page_of(DocumentOut, documents, cursor)


@router.get("/documents/{document_id}")
async def get_document(document_id: TextId, principal: Reader, session: SessionDep) -> DocumentOut:
    """A document's status, progress, failure reason and integrity data."""
    document = await service.get_document(
        session, tenant_id=principal.tenant_id, document_id=document_id
    )
    return DocumentOut.model_validate(document)


@router.get("/collections")
async def list_collections(principal: Reader, session: SessionDep) -> Page[CollectionOut]:
    """The tenant's collections (the seed's three always exist)."""
    collections = await service.list_collections(session, tenant_id=principal.tenant_id)
    return page_of(CollectionOut, collections)


@router.delete(
    "/documents/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={202: {"model": DocumentOut, "description": "Hidden; vector delete pending"}},
)
async def delete_document(
    document_id: TextId, principal: Writer, actor: ActorDep, deleter: DeleterDep
) -> Response:
    """Delete a document from both stores; 202 when the vector store is down (it vanishes from
    search at once and the reconciler finishes the delete)."""
    done = await deleter.delete(
        tenant_id=principal.tenant_id,
        document_id=document_id,
        actor=actor,
    )
    if done:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return JSONResponse(
        {"id": document_id, "status": "deleting", "pending": "vector store unavailable"},
        status_code=status.HTTP_202_ACCEPTED,
    )


@router.post("/search")
async def search_knowledge(
    data: SearchRequest, principal: Reader, knowledge: KnowledgeDep
) -> Page[SearchResult]:
    """Search the tenant's ready documents (vector, or hybrid with full text)."""
    results = await knowledge.search(tenant_id=principal.tenant_id, request=data)
    return page_of(SearchResult, results)
