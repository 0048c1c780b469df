"""Tell Chinese, English and anything else apart, without dependencies.

    detect_language("我们会收集您的个人信息。")           # "zh"
    detect_language("We keep your data for two years.")   # "en"
    detect_language("Wir speichern Ihre Daten.")          # "other"
    detect_language("")                                   # "other"

Rules, in order (counts are characters, taken from at most ``SAMPLE_CHARS`` of the text):

1. no letters at all -> "other";
2. Han characters and Japanese kana are at least ``HAN_SHARE`` of all letters (a Han
   character is a word's worth of text, a Latin letter a fifth of one, so Chinese policies
   full of SDK names still count): "other" when kana are more than ``KANA_SHARE`` of them
   (Japanese), else "zh";
4. Latin letters are less than ``LATIN_SHARE`` of all letters (Cyrillic, Arabic, Hangul,
   ...) -> "other";
5. among Latin words, English function words must outnumber those of French, German,
   Spanish, Portuguese, Italian and Dutch, and make up ``EN_STOPWORD_SHARE`` of the words
   (short texts with no function words at all count as English when they are plain ASCII).
"""

from __future__ import annotations

import re
from typing import Literal

SAMPLE_CHARS = 60_000
KANA_SHARE = 0.15
HAN_SHARE = 0.3
LATIN_SHARE = 0.6
EN_STOPWORD_SHARE = 0.12
SHORT_TEXT_WORDS = 25

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_KANA_RE = re.compile(r"[\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9d]")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
_LETTER_RE = re.compile(r"[^\W\d_]")
_WORD_RE = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]+")
_NON_ASCII_LATIN_RE = re.compile(r"[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")

# Frequent function words, chosen to be rare in the other languages of this table.
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and of to we you your our is are be this that with for or by will may not "
        "it as from which have has can any us how when what such these those other".split()
    ),
    "fr": frozenset(
        "le la les des du et est une nous vous votre vos sont pour dans avec sur par qui que "
        "aux ces cette ou être peut pas".split()
    ),
    "de": frozenset(
        "der die das und ist ein eine wir sie ihre ihr nicht mit für auf von zu den dem des "
        "werden wird oder bei auch sind".split()
    ),
    "es": frozenset(
        "el los las y es una nosotros usted su sus con para por del al que como esta este "
        "pueden puede datos".split()
    ),
    "pt": frozenset(
        "o os as e é um uma nós você seu sua seus com para por do da dos das que não pode "
        "podem".split()
    ),
    "it": frozenset(
        "il lo gli le e è un una noi voi vostro suoi con per del della dei che non sono "
        "possono".split()
    ),
    "nl": frozenset(
        "de het een en is wij u uw onze niet met voor op van te worden wordt of bij ook zijn "
        "deze".split()
    ),
}


def detect_language(text: str) -> Literal["zh", "en", "other"]:
    """Return "zh", "en" or "other" for a text (see the module docstring for the rules)."""
    sample = _sample(text)
    han = len(_HAN_RE.findall(sample))
    kana = len(_KANA_RE.findall(sample))
    letters = len(_LETTER_RE.findall(sample))
    if letters == 0:
        return "other"
    if han + kana >= HAN_SHARE * letters:
        return "other" if kana > KANA_SHARE * (han + kana) else "zh"
    latin = len(_LATIN_RE.findall(sample))
    if latin < LATIN_SHARE * (letters - han - kana):
        return "other"
    return "en" if _latin_is_english(sample) else "other"


def _sample(text: str) -> str:
    """The text, or three slices of it (start, middle, end) when it is long."""
    if len(text) <= SAMPLE_CHARS:
        return text
    third = SAMPLE_CHARS // 3
    middle = len(text) // 2
    return text[:third] + text[middle - third // 2 : middle + third // 2] + text[-third:]


def _latin_is_english(sample: str) -> bool:
    words = [w.lower() for w in _WORD_RE.findall(sample)]
    if not words:
        return False
    counts = {lang: 0 for lang in _STOPWORDS}
    for word in words:
        for lang, stops in _STOPWORDS.items():
            if word in stops:
                counts[lang] += 1
    en = counts.pop("en")
    best_other = max(counts.values())
    if en == 0 and best_other == 0:
        # "Privacy Policy", "Cookie Settings": no function words to go by.
        accented = len(_NON_ASCII_LATIN_RE.findall(sample))
        return len(words) <= SHORT_TEXT_WORDS and accented == 0
    return en > best_other and en >= EN_STOPWORD_SHARE * len(words)
