"""Reading, validating and producing canonical tables."""
