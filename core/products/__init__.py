"""Products and their content-addressed store."""
