"""Domain layer: canonical tables, statuses and errors. No I/O here."""
