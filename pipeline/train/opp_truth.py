"""Criterion-level "truth" for English policies, derived from the OPP-115 annotations.

OPP-115 (Wilson et al., ACL 2016) holds 115 website privacy policies, each annotated by three
law students with *data practices*: a category plus attribute values (and text spans) per
policy segment. This module turns those practices into the grader's three-level judgements
(full / partial / none) for the criteria the attributes can honestly decide.

Majority rule
-------------
Each annotation row carries an annotator id (column 3 of ``annotations/*.csv``); every policy
has exactly three distinct annotator ids. A *feature* is a predicate on one practice (e.g.
"Data Retention with Retention Period = Stated Period"). A feature holds for a policy when at
least 2 of its 3 annotators annotated, somewhere in the policy, at least one practice that
satisfies it (the practices need not be in the same segment, nor be the same row). Counting
features (e.g. distinct information types) count only the values that hold by this rule.
Each criterion checks its "full" feature first, then its "partial" feature, else "none".

Practices marked ``Does/Does Not = Does Not`` are kept for "partial" (the policy does talk
about the practice) but never support "full".

Data are read from ``<shared_data>/opp-115`` at run time; nothing is copied.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

MAJORITY = 2  # of the 3 annotators of each policy
LEVELS = ("none", "partial", "full")

# Values that say nothing concrete (excluded wherever "specific" is required).
VAGUE = frozenset({"Unspecified", "not-selected", "Other", "", None})
GENERIC_INFO = VAGUE | {"Generic personal information"}
# Purposes too generic to count as "tied to a specific purpose" ("to provide our services").
GENERIC_PURPOSE = VAGUE | {"Basic service/feature"}
# Choice types that tell the user *how* to act (a link, a setting, a control, a contact route).
HOW_CHOICES = frozenset(
    {
        "Opt-out link",
        "Opt-out via contacting company",
        "Browser/device privacy controls",
        "First-party privacy controls",
        "Third-party privacy controls",
    }
)
SPECIFIC_SECURITY = frozenset(
    {
        "Data access limitation",
        "Secure data transfer",
        "Secure data storage",
        "Secure user authentication",
        "Privacy review/audit",
        "Privacy training",
        "Privacy/Security program",
    }
)
ACCESS_VIEW = frozenset({"View", "Export"})
ACCESS_EDIT = frozenset({"Edit information"})
ACCESS_DELETE = frozenset({"Delete account (full)", "Delete account (partial)", "Deactivate account"})
PERSONALIZED_PURPOSES = frozenset({"Advertising", "Personalization/Customization"})
COOKIES = "Cookies and tracking elements"
COLLECTED_FULL_MIN_TYPES = 4  # distinct majority-supported specific information types
PURPOSE_FULL_MIN_PAIRS = 3  # distinct majority-supported (specific type, specific purpose) pairs

FP = "First Party Collection/Use"
TP = "Third Party Sharing/Collection"
CHOICE = "User Choice/Control"
ACCESS = "User Access, Edit and Deletion"
RETENTION = "Data Retention"
SECURITY = "Data Security"
CHANGE = "Policy Change"
AUDIENCE = "International and Specific Audiences"
OTHER = "Other"

# Words looked for in the text of the children segments (see ``minors`` below).
_PARENT_RE = re.compile(r"\b(parent|parental|guardian)s?\b", re.IGNORECASE)
_CONSENT_RE = re.compile(r"\b(consent|permission|authori[sz]ation|approv(?:e|al))\b", re.IGNORECASE)
_HANDLING_RE = re.compile(r"\b(delet\w*|remov\w*|eras\w*|destroy\w*|review\w*|access\w*|purg\w*)\b", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]*>")

CRITERIA_DERIVED: dict[str, str] = {
    "retention": "full: a Data Retention practice with Retention Period = 'Stated Period'; partial: any other Data "
    "Retention practice (Limited / Indefinitely / Unspecified / Other); none: no Data Retention practice.",
    "sharing": "full: a Third Party Sharing/Collection practice (Does) whose Third Party Entity (not Unspecified/Other), "
    "Personal Information Type (not Unspecified/Generic/Other) and Purpose (not Unspecified/Other) are all specific in "
    "the same annotation; partial: any other Third Party Sharing/Collection practice; none: none.",
    "rights": "full: User Access/Edit/Deletion practices covering all three of view (View/Export), edit (Edit "
    "information) and deletion (Delete account full/partial, Deactivate account), each by majority; partial: any other "
    "User Access/Edit/Deletion practice; none: none.",
    "changes": "full: a Policy Change practice with Notification Type = 'Personal notice' (e.g. e-mail); partial: any "
    "other Policy Change practice (General notice in privacy policy / on website, Unspecified, Other, No notification); "
    "none: no Policy Change practice.",
    "security": "full: a Data Security practice with a specific Security Measure (access limitation, secure transfer/"
    "storage/authentication, review/audit, training, privacy/security program); partial: Generic/Other/Unspecified only; "
    "none: no Data Security practice.",
    "minors": "full: majority Audience Type = Children AND the text of the segments where >=2 annotators marked Children "
    "mentions a parent/guardian, consent/permission, and a handling action (delete/remove/review/access); partial: "
    "Children otherwise; none: no Children audience practice.",
    "collected": f"full: >= {COLLECTED_FULL_MIN_TYPES} distinct specific Personal Information Types (not Unspecified/"
    "Generic/Other), each majority-supported, in First Party Collection/Use practices (Does); partial: any other First "
    "Party Collection/Use practice; none: none.",
    "purpose": f"full: >= {PURPOSE_FULL_MIN_PAIRS} distinct (specific information type, specific purpose) pairs from the "
    "same First Party Collection/Use annotation, each pair majority-supported (purposes Unspecified/Other/'Basic "
    "service/feature' do not count as specific); partial: any First Party Collection/Use practice with a purpose other "
    "than Unspecified; none: otherwise.",
    "consent": "full: a User Choice/Control practice whose Choice Type says how to act (opt-out link, opt-out via "
    "contacting the company, browser/device, first-party or third-party privacy controls); partial: any other User "
    "Choice/Control practice (Opt-in, don't use the service, Unspecified, Other); none: none.",
    "personalization": "full: a User Choice/Control practice with Purpose Advertising or Personalization/Customization "
    "and a how-to Choice Type (as for consent); partial: a First/Third Party practice or choice with such a purpose; "
    "none: none.",
    "cookies": "full: a practice (First Party, Third Party or User Choice/Control) about 'Cookies and tracking "
    "elements' with a how-to Choice Type (as for consent); partial: any practice about cookies and tracking elements; "
    "none: none.",
}
"""Criterion id -> the rule deriving its level (the "feature" of each level holds by >= 2 of 3 annotators)."""

# Criteria left out, with the reason (for reports).
CRITERIA_NOT_DERIVED: dict[str, str] = {
    "dates": "no annotation; policies_opp115.csv has a last-updated date but it is missing from several sanitized texts",
    "scope": "no annotation of the products/services covered",
    "controller": "no annotation of the operator's legal identity",
    "contact": "'Privacy contact information' gives a channel only; the response commitment that makes 'full' is not "
    "annotated (and nearly every policy has a channel)",
    "breach": "no attribute for incident notification",
    "crossborder": "Audience Types Europeans/other countries mark international users, not storage location or transfer",
    "sensitive": "no notion of sensitive information or separate consent",
    "sdk": "third parties are not split into SDKs vs other recipients",
}


@dataclass(frozen=True)
class Practice:
    """One annotated data practice: who annotated it, where, and its attribute values."""

    annotator: str
    segment: int
    category: str
    values: dict[str, str]

    def value(self, attribute: str) -> str | None:
        """The selected value of ``attribute``, or None when the practice has no such attribute."""
        return self.values.get(attribute)

    @property
    def does(self) -> bool:
        """False for a practice the policy says it does not perform."""
        return self.values.get("Does/Does Not") != "Does Not"


Feature = Callable[[Practice], bool]


def opp_dir(shared_data: Path) -> Path:
    """The OPP-115 folder under the shared data root."""
    return Path(shared_data) / "opp-115"


def policy_stems(shared_data: Path) -> list[str]:
    """File stems (``<uid>_<site>``) of the 115 annotated policies, sorted."""
    return sorted(p.stem for p in (opp_dir(shared_data) / "annotations").glob("*.csv"))


def read_practices(csv_path: Path) -> list[Practice]:
    """All practices of one ``annotations/*.csv`` file (no header; column 3 = annotator id)."""
    out: list[Practice] = []
    with csv_path.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            attrs = json.loads(row[6])
            values = {name: str(spec.get("value", "")) for name, spec in attrs.items()}
            out.append(Practice(annotator=row[2], segment=int(row[4]), category=row[5], values=values))
    return out


def read_segments(html_path: Path) -> list[str]:
    """Plain text of each sanitized-policy segment (split on ``|||``, tags removed)."""
    raw = html_path.read_text(encoding="utf-8", errors="replace")
    return [" ".join(_TAG_RE.sub(" ", part).split()) for part in raw.split("|||")]


def holds(practices: Iterable[Practice], feature: Feature) -> bool:
    """True when >= MAJORITY distinct annotators have a practice satisfying ``feature``."""
    return len({p.annotator for p in practices if feature(p)}) >= MAJORITY


def majority_keys(practices: Iterable[Practice], key: Callable[[Practice], Iterable[object]]) -> set[object]:
    """Keys (e.g. information types) produced for >= MAJORITY distinct annotators."""
    who: dict[object, set[str]] = defaultdict(set)
    for p in practices:
        for k in key(p):
            who[k].add(p.annotator)
    return {k for k, annotators in who.items() if len(annotators) >= MAJORITY}


def majority_segments(practices: Iterable[Practice], feature: Feature) -> set[int]:
    """Segments where >= MAJORITY annotators have a practice satisfying ``feature``."""
    return {int(s) for s in majority_keys(practices, lambda p: [p.segment] if feature(p) else [])}


def leveled(full: bool, partial: bool) -> str:
    """The level from the two majority tests (full wins, then partial, else none)."""
    return "full" if full else "partial" if partial else "none"


def in_category(*categories: str) -> Feature:
    """Feature: the practice belongs to one of ``categories``."""
    wanted = frozenset(categories)
    return lambda p: p.category in wanted


# ---------------------------------------------------------------- one function per criterion


def level_retention(ps: list[Practice], segments: list[str]) -> str:
    """See CRITERIA_DERIVED['retention']."""
    full = holds(ps, lambda p: p.category == RETENTION and p.value("Retention Period") == "Stated Period")
    return leveled(full, holds(ps, in_category(RETENTION)))


def _sharing_complete(p: Practice) -> bool:
    return (
        p.category == TP
        and p.does
        and p.value("Third Party Entity") not in VAGUE
        and p.value("Personal Information Type") not in GENERIC_INFO
        and p.value("Purpose") not in VAGUE
    )


def level_sharing(ps: list[Practice], segments: list[str]) -> str:
    """See CRITERIA_DERIVED['sharing']."""
    return leveled(holds(ps, _sharing_complete), holds(ps, in_category(TP)))


def level_rights(ps: list[Practice], segments: list[str]) -> str:
    """See CRITERIA_DERIVED['rights']."""

    def access(values: frozenset[str]) -> Feature:
        return lambda p: p.category == ACCESS and p.value("Access Type") in values

    full = holds(ps, access(ACCESS_VIEW)) and holds(ps, access(ACCESS_EDIT)) and holds(ps, access(ACCESS_DELETE))
    return leveled(full, holds(ps, in_category(ACCESS)))


def level_changes(ps: list[Practice], segments: list[str]) -> str:
    """See CRITERIA_DERIVED['changes']."""
    full = holds(ps, lambda p: p.category == CHANGE and p.value("Notification Type") == "Personal notice")
    return leveled(full, holds(ps, in_category(CHANGE)))


def level_security(ps: list[Practice], segments: list[str]) -> str:
    """See CRITERIA_DERIVED['security']."""
    full = holds(ps, lambda p: p.category == SECURITY and p.value("Security Measure") in SPECIFIC_SECURITY)
    return leveled(full, holds(ps, in_category(SECURITY)))


def _children(p: Practice) -> bool:
    return p.category == AUDIENCE and p.value("Audience Type") == "Children"


def level_minors(ps: list[Practice], segments: list[str]) -> str:
    """See CRITERIA_DERIVED['minors']."""
    if not holds(ps, _children):
        return "none"
    text = " ".join(segments[i] for i in sorted(majority_segments(ps, _children)) if i < len(segments))
    specific = all(rx.search(text) for rx in (_PARENT_RE, _CONSENT_RE, _HANDLING_RE))
    return "full" if specific else "partial"


def level_collected(ps: list[Practice], segments: list[str]) -> str:
    """See CRITERIA_DERIVED['collected']."""
    types = majority_keys(
        ps,
        lambda p: [p.value("Personal Information Type")]
        if p.category == FP and p.does and p.value("Personal Information Type") not in GENERIC_INFO
        else [],
    )
    return leveled(len(types) >= COLLECTED_FULL_MIN_TYPES, holds(ps, in_category(FP)))


def level_purpose(ps: list[Practice], segments: list[str]) -> str:
    """See CRITERIA_DERIVED['purpose']."""
    pairs = majority_keys(
        ps,
        lambda p: [(p.value("Personal Information Type"), p.value("Purpose"))]
        if p.category == FP
        and p.does
        and p.value("Personal Information Type") not in GENERIC_INFO
        and p.value("Purpose") not in GENERIC_PURPOSE
        else [],
    )
    partial = holds(ps, lambda p: p.category == FP and p.value("Purpose") not in VAGUE - {"Other"})
    return leveled(len(pairs) >= PURPOSE_FULL_MIN_PAIRS, partial)


def level_consent(ps: list[Practice], segments: list[str]) -> str:
    """See CRITERIA_DERIVED['consent']."""
    full = holds(ps, lambda p: p.category == CHOICE and p.value("Choice Type") in HOW_CHOICES)
    return leveled(full, holds(ps, in_category(CHOICE)))


def level_personalization(ps: list[Practice], segments: list[str]) -> str:
    """See CRITERIA_DERIVED['personalization']."""
    full = holds(
        ps,
        lambda p: p.category == CHOICE
        and p.value("Purpose") in PERSONALIZED_PURPOSES
        and p.value("Choice Type") in HOW_CHOICES,
    )
    partial = holds(ps, lambda p: p.category in (FP, TP, CHOICE) and p.value("Purpose") in PERSONALIZED_PURPOSES)
    return leveled(full, partial)


def level_cookies(ps: list[Practice], segments: list[str]) -> str:
    """See CRITERIA_DERIVED['cookies']."""

    def about_cookies(p: Practice) -> bool:
        return p.category in (FP, TP, CHOICE) and p.value("Personal Information Type") == COOKIES

    full = holds(ps, lambda p: about_cookies(p) and p.value("Choice Type") in HOW_CHOICES)
    return leveled(full, holds(ps, about_cookies))


LEVEL_FUNCTIONS: dict[str, Callable[[list[Practice], list[str]], str]] = {
    "collected": level_collected,
    "purpose": level_purpose,
    "consent": level_consent,
    "rights": level_rights,
    "sharing": level_sharing,
    "retention": level_retention,
    "security": level_security,
    "minors": level_minors,
    "changes": level_changes,
    "personalization": level_personalization,
    "cookies": level_cookies,
}
assert set(LEVEL_FUNCTIONS) == set(CRITERIA_DERIVED)


def policy_levels(practices: list[Practice], segments: list[str]) -> dict[str, str]:
    """All derived criterion levels of one policy."""
    return {cid: fn(practices, segments) for cid, fn in LEVEL_FUNCTIONS.items()}


def load_opp_truth(shared_data: Path) -> dict[str, dict[str, str]]:
    """Policy file stem (e.g. ``105_amazon.com``) -> {criterion id: "full" | "partial" | "none"}.

    Only the criteria in CRITERIA_DERIVED are present. Raises FileNotFoundError when the
    OPP-115 annotations are missing.
    """
    root = opp_dir(shared_data)
    if not (root / "annotations").is_dir():
        raise FileNotFoundError(f"no OPP-115 annotations under {root}")
    truth: dict[str, dict[str, str]] = {}
    for stem in policy_stems(shared_data):
        practices = read_practices(root / "annotations" / f"{stem}.csv")
        segments = read_segments(root / "sanitized_policies" / f"{stem}.html")
        truth[stem] = policy_levels(practices, segments)
    return truth


def distribution(truth: dict[str, dict[str, str]]) -> dict[str, dict[str, int]]:
    """Criterion -> {level: number of policies}."""
    out: dict[str, dict[str, int]] = {}
    for cid in CRITERIA_DERIVED:
        counts = {lv: 0 for lv in LEVELS}
        for levels in truth.values():
            if cid in levels:
                counts[levels[cid]] += 1
        out[cid] = counts
    return out


def degenerate(counts: dict[str, int], share: float = 108 / 115) -> bool:
    """True when one level holds >= ``share`` of the policies (useless for kappa)."""
    total = sum(counts.values())
    return total > 0 and max(counts.values()) >= share * total


if __name__ == "__main__":
    import sys

    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/shared/data")
    dist = distribution(load_opp_truth(data))
    print(f"{'criterion':16s} {'full':>5s} {'partial':>8s} {'none':>5s}")
    for cid, c in dist.items():
        flag = "  DEGENERATE (>=108/115 one level)" if degenerate(c) else ""
        print(f"{cid:16s} {c['full']:5d} {c['partial']:8d} {c['none']:5d}{flag}")
