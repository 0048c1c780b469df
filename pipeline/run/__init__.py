"""Orchestration only: the plain audit loop (audit), the worker pool (parallel), the Prefect flow and schedules (flows).

Takes a targets file, settings and a label; gives a finished, stored audit run.
Wires fetch -> read -> grade -> store; no stage imports this package.
"""
