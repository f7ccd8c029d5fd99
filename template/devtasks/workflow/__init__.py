"""The workflow language: the rules table, the typed model, the reader and expressions."""
