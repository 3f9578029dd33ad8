"""Walking coverage: the engine and what-if edits, metrics, service areas and gaps."""
