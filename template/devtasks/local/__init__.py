"""The local runner: the plan of a run, the processes it starts, and the run itself."""
