"""contents layer."""
