"""A user's Gmail, Google Calendar, Outlook mail and Outlook calendar: OAuth connection, tokens
in the vault, and incremental sync into the user's email and calendar."""
