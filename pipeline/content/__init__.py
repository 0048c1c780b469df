"""Bytes and markup shared by fetching and reading: charset sniffing and decoding, the HTML nesting guard, the tag tables.

Takes a body and its Content-Type (or an HTML string); gives its kind, its decoded text, HTML safe to parse.
No network and no stage: both fetch and read import it, it imports neither.
"""
