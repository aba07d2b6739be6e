"""`python -m orchestrator_service.rag.sandbox CONFIG`: an ingestion worker process."""

import sys

from orchestrator_service.rag.sandbox.child import main

sys.exit(main(sys.argv[1:]))
