"""The append-only, hash-chained audit log: who looked at which data when (and every decision)."""
