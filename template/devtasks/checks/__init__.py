"""Parity: workflows, task calls, versions, pre-commit and the seal held to the model."""
