"""Storage: SQLModel tables, the engine and Alembic migrations, saving results and reading audits back.

Takes typed records (Target, FetchResult, Grade, PolicyText, Segment); gives rows, and AuditReport back.
Imports no stage: only records, settings and errors.
"""
