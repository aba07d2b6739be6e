"""`python -m orchestrator_service.rag.sandbox CONFIG`: an ingestion worker process."""

import sys

from orchestrator_service.rag.sandbox.child import main

if __name__ == "__main__":  # not when a tool imports every module of the package
    sys.exit(main(sys.argv[1:]))
