"""Reading: extract (HTML, PDF, text/Markdown), language, segmentation.

Takes a fetched body (FetchResult); gives PolicyText and its list of Segment.
Never imports the network (fetch) or anything above it.
"""
