"""Machinery behind `tasks.py`: the CI job graph, the parity check and the Docker job.

The GitHub workflow is the one source of the job graph; everything here reads it.
"""
