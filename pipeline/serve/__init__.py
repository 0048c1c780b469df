"""Local sites on 127.0.0.1 for the demo, tests and benchmarks: a small HTTP server and corpus folders served through it.

Takes routes (path -> body) or a folder of policies; gives a running server's base URL and a targets file.
Not a stage: the demo, tests, benchmarks and corpus readers use it; it imports no other part of the pipeline.
"""
