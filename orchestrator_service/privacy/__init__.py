"""User-level privacy (issue 17): who owns a row and who may read it, the registry of
user-owned models, and what an admin may do with other users' private rows."""
