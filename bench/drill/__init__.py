"""`python -m bench drill`: a Spot interruption drill with real Spark processes.

`cli` runs each job three ways and prints the table; `runner` runs one real spark-submit on
`local-cluster` and interrupts executors; `executors` finds and signals this drill's
executor JVMs only; `eventlog` reads Spark's event log into figures; `workloads` holds the
two jobs and their data; `shuffle_cache.py` is the second job's Spark application.
"""
