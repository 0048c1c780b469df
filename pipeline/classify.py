"""Compatibility re-export: the classifiers now live in :mod:`pipeline.grade.classify`.

Kept so ``from pipeline.classify import load_classifier`` (the public way to load a trained
segment classifier, used by scripts outside this package) keeps working; new code imports
:mod:`pipeline.grade.classify` directly.
"""

from pipeline.grade.classify import load_classifier

__all__ = ["load_classifier"]
