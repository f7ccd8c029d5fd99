"""Machinery behind `tasks.py`: the CI job graph, the parity check and the CI jobs' bodies.

The GitHub workflow is the one source of the job graph; everything here reads it. Layers,
each a package: `workflow` (the language: rules, model, reader, expressions), `checks`
(parity), `local` (the local runner behind `invoke ci`), `jobs` (the tasks' bodies and the
`@ci_task` decorator). Beside them: `config` (`[tool.shipshape]`), `dockerfile` (the one
Dockerfile reader) and `machine` (tools, interpreters and Docker on this machine).
"""
