"""Fetching: the HTTP client, SSRF guard, robots.txt and politeness, discovery, app stores, Wayback, archive, WARC, Chromium.

Takes a Target and Settings; gives a FetchResult with the policy's bytes archived by sha256.
The only stage that touches the network; it imports no other stage (PDF text for judging pages is passed in).
"""
