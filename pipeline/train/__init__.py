"""Training and evaluating the segment classifiers, and their model card.

Takes the labelled corpora in ../shared/data; gives models/ (arrays, JSON, metrics, MODEL_CARD.md).
Imports grade (the model format it writes), never the reverse.
"""
