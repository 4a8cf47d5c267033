"""Research projects: the registry of authorisations and their frozen extracts."""
