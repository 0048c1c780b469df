"""Reporting: the static site, exports (CSV, JSON, Markdown, Datasette), year-on-year comparison, reviews.

Takes stored audits (AuditReport) and a Rubric; gives HTML pages, files and tables.
Reads the store and the grade stage (re-grading for comparisons); never imports run or the CLI.
"""
