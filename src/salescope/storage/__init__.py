"""Storage: the operational database and the Parquet table store."""
