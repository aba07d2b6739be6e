"""The boot-time schema healer: make the database match the models, safely, under a lock."""
