"""The one settings object: every `ORCH_` variable the service reads is a field here."""

import warnings
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service configuration from the environment (prefix `ORCH_`)."""

    model_config = SettingsConfigDict(env_prefix="ORCH_", extra="ignore")

    database_url: SecretStr | None = Field(
        default=None, description="Metadata PostgreSQL; unset starts the embedded pgserver."
    )
    vector_database_url: SecretStr | None = Field(
        default=None, description="Vector store over direct PostgreSQL; unset uses embedded."
    )
    supabase_url: str | None = None
    supabase_key: SecretStr | None = None
    data_dir: Path = Path("./.orchestrator")
    storage_url: str | None = Field(
        default=None,
        description="Where uploaded files live: s3://bucket[/prefix], or a local path; unset: "
        "<ORCH_DATA_DIR>/uploads.",
    )
    storage_endpoint: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, Supabase, R2); unset: AWS."
    )
    storage_region: str = "us-east-1"
    storage_access_key_id: str | None = None
    storage_secret_access_key: SecretStr | None = None
    storage_timeout: float = Field(
        default=30.0, gt=0, description="Seconds one object-storage request may take."
    )
    storage_retries: int = Field(
        default=2, ge=0, le=10, description="Retries of a failed object-storage request."
    )
    allow_embedded: bool = Field(
        default=False,
        description="Let ORCH_ENV=production run the embedded database, vector store or "
        "local-disk storage (a single-host install with ORCH_DATA_DIR on a kept volume).",
    )
    vault_keys: SecretStr | None = None
    env: Literal["development", "production"] = "development"
    embedder: Literal["local", "multilingual", "use", "multilingual+use", "openai"] = "local"

    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to reach a database.")
    db_pool_size: int = Field(
        default=30,
        ge=1,
        le=500,
        description="Connections to the metadata database each process keeps open (10 more "
        "are opened under bursts and closed after).",
    )
    heal_lock_timeout: float = Field(
        default=120.0, gt=0, description="Seconds a boot waits for another replica's heal."
    )
    heal_ddl_lock_timeout_ms: int = Field(default=500, gt=0)
    heal_ddl_retries: int = Field(default=8, ge=0)
    outbound_allowed_hosts: str = Field(
        default="",
        description="Comma-separated hosts, IPs or networks that outbound calls (tools, model "
        "and embedding APIs) may reach though private.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Largest JSON request body accepted."
    )
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024, gt=0, description="Largest document upload accepted."
    )
    job_lease_seconds: float = Field(
        default=60.0, gt=0, description="A job whose worker stops beating this long is retried."
    )
    ingest_concurrency: int = Field(
        default=2, ge=2, le=256, description="Ingestions one replica runs at once."
    )
    run_concurrency: int = Field(
        default=4, ge=2, le=256, description="Background agent runs one replica runs at once."
    )
    tenant_ingest_concurrency: int = Field(
        default=1, ge=1, le=256, description="Ingestions of one tenant at once, all replicas."
    )
    tenant_run_concurrency: int = Field(
        default=2, ge=1, le=256, description="Background runs of one tenant at once, all replicas."
    )
    quota_documents: int = Field(default=10_000, ge=1, description="Documents one tenant may hold.")
    quota_stored_bytes: int = Field(
        default=10 * 1024**3, ge=1, description="Bytes of documents one tenant may store."
    )
    quota_runs_per_minute: int = Field(
        default=120, ge=1, description="Agent runs one tenant may start per calendar minute."
    )
    system_config_ttl_seconds: float = Field(
        default=5,
        ge=0,
        le=3600,
        description="How long a replica uses platform settings (system_config) before reading "
        "them again.",
    )
    password_hash_threads: int = Field(
        default=2, ge=1, le=64, description="Threads hashing passwords (64 MiB each) at once."
    )
    login_max_failures_per_account: int = Field(
        default=5, ge=1, description="Failed logins of one email before its backoff starts."
    )
    login_max_failures_per_address: int = Field(
        default=50, ge=1, description="Failed logins from one client address before its backoff."
    )
    login_backoff_seconds: float = Field(
        default=30.0, gt=0, description="First backoff; it doubles with each further failure."
    )
    login_max_backoff_seconds: float = Field(
        default=900.0, gt=0, description="Longest backoff after failed logins."
    )
    login_failure_window_seconds: float = Field(
        default=900.0, gt=0, description="Failed logins older than this are forgotten."
    )
    model_max_response_bytes: int = Field(
        default=8 * 1024 * 1024,
        gt=0,
        description="Largest answer (whole or streamed) read from a model API.",
    )
    model_max_stream_chars: int = Field(
        default=200_000, gt=0, description="Most text a streamed model answer may carry."
    )
    meta_graph_base_url: str = Field(
        default="https://graph.facebook.com/v21.0",
        description="The Graph API that channel replies (WhatsApp, Messenger, Instagram) go to.",
    )
    channel_send_timeout: float = Field(
        default=15.0, gt=0, description="Deadline of one Graph API send, to its last byte."
    )
    channel_send_backoff: float = Field(
        default=1.0,
        ge=0,
        description="First wait before retrying a rate-limited or failed send (doubles, 3 tries).",
    )
    embedding_timeout: float = Field(
        default=60.0, gt=0, description="Deadline of one embedding request, to its last byte."
    )
    embedding_max_response_bytes: int = Field(
        default=32 * 1024 * 1024, gt=0, description="Largest answer read from an embedding API."
    )
    ingest_processes: int = Field(
        default=1, ge=1, description="Worker processes that parse, chunk and embed uploads."
    )
    ingest_documents_per_process: int = Field(
        default=50, ge=1, description="Documents a worker process handles before it is replaced."
    )
    ingest_max_memory_mb: int = Field(
        default=3072,
        ge=512,
        description="Address space of a worker process (RLIMIT_AS), the model included (MiB).",
    )
    ingest_cpu_seconds: int = Field(
        default=3600, ge=1, description="CPU time one document may use, all threads (RLIMIT_CPU)."
    )
    ingest_timeout_seconds: float = Field(
        default=1800.0, gt=0, description="Wall-clock time one document may take, until written."
    )
    ingest_max_attempts: int = Field(
        default=3, ge=1, description="Ingestions started (and lost with their process) per upload."
    )
    ingest_max_expanded_mb: int = Field(
        default=512, ge=1, description="A zip's content unpacked (MiB)."
    )
    ingest_max_docx_xml_mb: int = Field(
        default=64,
        ge=1,
        description="A Word document's word/document.xml, uncompressed (MiB).",
    )
    ingest_max_pages: int = Field(default=2000, ge=1, description="PDF pages.")
    ingest_max_characters: int = Field(
        default=10_000_000,
        ge=1,
        description="Characters of one document's text, decoded or extracted.",
    )
    ingest_max_chat_messages: int = Field(
        default=200_000, ge=1, description="Messages of one chat export."
    )
    openai_embedding_base_url: str = "https://api.openai.com/v1"
    openai_embedding_model: str = "text-embedding-3-small"
    openai_embedding_credential: str = Field(
        default="OPENAI_API_KEY", description="Vault credential (per tenant) holding the key."
    )
    adopted_embedding_model: str = Field(
        default="text-embedding-3-small",
        description="The OpenAI model that embedded the vectors of an adopted LangChain "
        "documents table; they are recorded as openai:<model>:<their dimension>.",
    )
    adopt_batch_rows: int = Field(
        default=5000,
        ge=1,
        description="Rows of an adopted LangChain documents table filled per transaction.",
    )
    reconcile_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often the reconciler runs in a serving process."
    )
    query_vector_cache_entries: int = Field(
        default=1024,
        ge=0,
        description="Recent query vectors kept per process (per tenant, model and exact "
        "text), so a repeated question is not embedded again; 0 keeps none.",
    )
    tenant_index_min_chunks: int = Field(
        default=5000,
        ge=1,
        description="A tenant with this many chunks gets an HNSW index of its own (built by "
        "the reconciler); dropped again below half of it.",
    )
    agent_message_max_depth: int = Field(
        default=3,
        ge=1,
        le=20,
        description="Messages deep an exchange between agents may go (A->B->A... stops there).",
    )
    agent_message_max_per_run: int = Field(
        default=5, ge=1, le=100, description="Messages one agent run may send other agents."
    )
    mcp_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Deadline of one session with an agent's MCP server.",
    )
    mcp_max_response_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest answer read from an agent's MCP server."
    )
    live_max_streams_per_user: int = Field(
        default=5, ge=1, le=100, description="Event streams one user may hold open per replica."
    )
    live_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Idle seconds before an event stream sends a keep-alive and re-checks its key.",
    )
    live_retention_seconds: float = Field(
        default=3600.0, gt=0, description="How long live events are kept for replay."
    )
    google_client_id: str | None = Field(
        default=None, description="OAuth client id of the Google integrations (Gmail, Calendar)."
    )
    google_client_secret: SecretStr | None = None
    google_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
    gmail_base_url: str = "https://gmail.googleapis.com/gmail/v1"
    google_calendar_base_url: str = "https://www.googleapis.com/calendar/v3"
    microsoft_client_id: str | None = Field(
        default=None, description="Application id of the Outlook integrations (mail, calendar)."
    )
    microsoft_client_secret: SecretStr | None = None
    microsoft_authority: str = Field(
        default="https://login.microsoftonline.com/common/oauth2/v2.0",
        description="Microsoft identity platform endpoint (its /authorize and /token).",
    )
    microsoft_graph_base_url: str = "https://graph.microsoft.com/v1.0"
    integrations_redirect_uri: str | None = Field(
        default=None,
        description="Where the provider sends the user back after consent (the page that "
        "posts `code` and `state` to /api/v1/integrations/callback).",
    )
    integration_state_ttl_seconds: float = Field(
        default=600.0, gt=0, description="How long a started connection waits for its callback."
    )
    integration_timeout: float = Field(
        default=30.0, gt=0, description="Deadline of one provider request, to its last byte."
    )
    integration_max_response_bytes: int = Field(
        default=16 * 1024 * 1024, gt=0, description="Largest answer read from a provider."
    )
    integration_max_pages: int = Field(
        default=1000, ge=1, description="Pages one sync may read before it stops with an error."
    )
    integration_google_requests_per_second: float = Field(
        default=10.0, gt=0, description="Requests per second one Google integration may make."
    )
    integration_microsoft_requests_per_second: float = Field(
        default=4.0, gt=0, description="Requests per second one Outlook integration may make."
    )
    integration_sync_interval_seconds: float = Field(
        default=900.0, gt=0, description="How often connected integrations sync by themselves."
    )
    integration_sync_concurrency: int = Field(
        default=2, ge=1, le=256, description="Integration syncs one replica runs at once."
    )
    integration_refresh_margin_seconds: float = Field(
        default=120.0, ge=0, description="Access tokens are refreshed this long before expiry."
    )
    # Outbound webhooks, tasks and files (issue 18).
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Seconds one webhook delivery may take, all told."
    )
    webhook_max_response_bytes: int = Field(
        default=64 * 1024, gt=0, description="Most of a receiver's answer read (then cut off)."
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Tries of one delivery before it is given up."
    )
    webhook_retry_base_seconds: float = Field(
        default=30.0, gt=0, description="Wait before the first retry; doubled at each one."
    )
    webhook_retry_max_seconds: float = Field(
        default=6 * 3600.0, gt=0, description="Longest wait between two tries."
    )
    webhook_disable_after: int = Field(
        default=15,
        ge=1,
        description="Consecutive failed tries after which an endpoint is disabled.",
    )
    webhook_secret_grace_seconds: float = Field(
        default=24 * 3600.0,
        ge=0,
        description="How long a rotated-out signing secret keeps signing beside the new one.",
    )
    webhook_concurrency: int = Field(
        default=4, ge=2, le=64, description="Webhook deliveries a worker runs at once."
    )
    max_file_bytes: int = Field(
        default=25 * 1024 * 1024, gt=0, description="Largest conversation attachment accepted."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="`json` for one JSON object per line (containers)."
    )
    shutdown_timeout: float = Field(
        default=30.0, gt=0, description="Seconds SIGTERM waits for requests and jobs in flight."
    )

    # Old names, still read: each warns and stands in for its new name when that is unset.
    tool_allowed_hosts: str | None = Field(default=None, description="Old name.")
    ingest_lease_seconds: float | None = Field(default=None, gt=0, description="Old name.")

    @model_validator(mode="after")
    def _renamed(self) -> Self:
        for old, new in _RENAMED.items():
            value = getattr(self, old)
            if value is None:
                continue
            warnings.warn(
                f"ORCH_{old.upper()} is deprecated: use ORCH_{new.upper()}",
                DeprecationWarning,
                stacklevel=2,
            )
            if new not in self.model_fields_set:
                setattr(self, new, value)
        return self


_RENAMED = {
    "tool_allowed_hosts": "outbound_allowed_hosts",
    "ingest_lease_seconds": "job_lease_seconds",
}


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
