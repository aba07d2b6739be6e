"""orchestrator_service: multi-tenant agents, tools, vault and RAG on a self-healing schema."""

__version__ = "0.1.0"
