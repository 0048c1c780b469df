"""Grading at inference: rubric loading, registered checks, features and classifiers, the grader.

Takes PolicyText, its Segments and a Rubric; gives a Grade (criterion results with quoted evidence).
Never imports fetch (network) or train (training imports this package, never the reverse).
"""
