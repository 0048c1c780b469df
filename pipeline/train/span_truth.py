"""A held-out check for the Chinese rules: levels derived from CA4P-483's own span annotations.

The v2 rules were written while reading the 40 dev policies, so their dev agreement is in sample.
CA4P-483 (Zhao et al., EMNLP 2022) had other annotators mark spans in all 483 policies: data (e_21),
collect (e_22), share (e_23), receiver (e_26), purpose (e_27)... For two criteria those spans decide
a level the way ``ca4p-transparency-dev/definitions.md`` does, fixed before any comparison (except one rule, said below):

* purpose: full when at least :data:`PURPOSE_FULL_SENTENCES` sentences carry both a data span and a
  purpose span (purposes tied to items); partial when any purpose span exists; else none.
* collected: full when at least :data:`COLLECTED_FULL_ITEMS` distinct items are marked as data (items
  listed one by one, as the v2 rule ``item*8``); partial when any is; else none. CA4P often marks a
  whole list ("姓名、昵称、性别") as one data span, so a span counts as the items it lists (added after a first
  comparison: it raised the yardstick's agreement with the readers on collected from 0.78 to 0.83).

How good a yardstick this is, is measured on the 40 dev policies (span levels against the careful
readers); the machine is then compared with the span levels on the 443 policies that are not in
the dev set, which the rules were never written against.

* sharing is shown too (full: one sentence with share, receiver, data and purpose spans; partial:
  any share span), but as a yardstick it is weak: read its dev agreement with the readers first.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from pipeline.train.agreement import agreement

PURPOSE_FULL_SENTENCES = 3
COLLECTED_FULL_ITEMS = 8
CRITERIA = ("purpose", "collected", "sharing")
_PRE = re.compile(r"<pre[^>]*>(.*?)</pre>", re.S)
_SENTENCE = re.compile(r"[^。！？；;\n]+[。！？；;]?")
_LIST = re.compile(r"[、，,/]|和|及|与|或")  # one data span often holds a whole list of items


def policy_text(raw_html: str) -> str:
    """The plain text the CA4P span offsets refer to: the ``<pre>`` blocks, unescaped, joined."""
    return "".join(html.unescape(block) for block in _PRE.findall(raw_html))


def sentence_kinds(text: str, spans: list[Mapping]) -> Iterator[tuple[re.Match[str], set[str]]]:
    """Each sentence of ``text`` with the span classes (e_21 ...) that overlap it."""
    marked = [(int(s["start"]), int(s["end"]), s["classId"]) for s in spans if s.get("classId")]
    for m in _SENTENCE.finditer(text):
        a, b = m.span()
        yield m, {k for s, e, k in marked if s < b and e > a}


def span_levels(text: str, spans: list[Mapping]) -> dict[str, str]:
    """Purpose, collected and sharing levels of one policy from its spans (module docstring)."""
    marked = [(int(s["start"]), int(s["end"]), s["classId"]) for s in spans if s.get("classId")]
    tied = 0
    shared_fully = False
    for _m, kinds in sentence_kinds(text, spans):
        tied += {"e_21", "e_27"} <= kinds
        shared_fully |= {"e_21", "e_23", "e_26", "e_27"} <= kinds
    has_purpose = any(k == "e_27" for *_, k in marked)
    items = {item.strip() for s, e, k in marked if k == "e_21" for item in _LIST.split(text[s:e])} - {""}
    return {
        "purpose": "full" if tied >= PURPOSE_FULL_SENTENCES else "partial" if has_purpose else "none",
        "collected": "full" if len(items) >= COLLECTED_FULL_ITEMS else "partial" if items else "none",
        "sharing": "full" if shared_fully else "partial" if any(k == "e_23" for *_, k in marked) else "none",
    }


def load_span_truth(shared_data: Path) -> dict[str, dict[str, str]]:
    """CA4P policy id -> span-derived levels. Raises FileNotFoundError when CA4P-483 is missing;
    a malformed annotation file raises ValueError naming it."""
    root = shared_data / "ca4p-483"
    ann = root / "annotation_data"
    if not ann.is_dir():
        raise FileNotFoundError(f"no CA4P-483 annotations under {root}")
    out: dict[str, dict[str, str]] = {}
    for path in sorted(ann.glob("*.json")):
        try:
            spans = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        raw = root / "raw_data" / f"{path.stem}.html"
        if raw.is_file():
            out[path.stem] = span_levels(policy_text(raw.read_text(encoding="utf-8")), spans)
    return out


def evaluate_spans(
    shared_data: Path,
    readers: Mapping[str, Mapping[str, str]],
    machine_levels: Callable[[Path], Mapping[str, str]],
) -> dict:
    """The yardstick on the dev policies (span levels vs ``readers``), then the machine vs span levels
    on every other CA4P policy (``machine_levels`` grades one raw file, dev criterion ids)."""
    spans = load_span_truth(shared_data)
    dev = {p: {c: readers[p][c] for c in CRITERIA if c in readers[p]} for p in readers if p in spans}
    yardstick = agreement(dev, {p: spans[p] for p in dev})
    raw = shared_data / "ca4p-483" / "raw_data"
    pred = {p: dict(machine_levels(raw / f"{p}.html")) for p in sorted(spans)}
    held_out = sorted(set(spans) - set(readers))
    machine = agreement({p: spans[p] for p in held_out}, {p: pred[p] for p in held_out})
    machine_dev = agreement({p: spans[p] for p in dev}, {p: pred[p] for p in dev})
    return {
        "dataset": "ca4p-483 span annotations (other annotators), policies outside the dev set",
        "rules": {"purpose": f"full: >= {PURPOSE_FULL_SENTENCES} sentences with data + purpose spans; partial: any purpose span",
                  "collected": f"full: >= {COLLECTED_FULL_ITEMS} distinct items in data spans (a span listing items counts each); partial: any data span",
                  "sharing": "full: a sentence with share + receiver + data + purpose spans; partial: any share span"},
        "yardstick_vs_readers_on_dev": yardstick,
        "machine_vs_spans_on_dev": machine_dev,  # beside held out: a drop there shows rules fitted to the dev set
        "machine_vs_spans_held_out": machine,
        "full_share": full_shares(readers, pred, held_out),
    }


def full_shares(readers: Mapping[str, Mapping[str, str]], pred: Mapping[str, Mapping[str, str]], held_out: list[str]) -> dict:
    """Per criterion, the share of policies judged full: by the readers and the machine on the dev
    policies, and by the machine on the held-out ones. No truth is needed; a criterion whose share
    moves far between dev and held out fires differently on unseen text, which is worth reading."""
    def share(levels: list[str]) -> float:
        return round(sum(lv == "full" for lv in levels) / max(len(levels), 1), 2)

    dev = [p for p in readers if p in pred]
    out = {}
    for c in sorted({c for p in dev for c in readers[p]}):
        out[c] = {
            "readers_dev": share([readers[p][c] for p in dev if c in readers[p]]),
            "machine_dev": share([pred[p].get(c, "none") for p in dev if c in readers[p]]),
            "machine_held_out": share([pred[p].get(c, "none") for p in held_out]),
        }
    return out


def format_span_check(s: Mapping) -> list[str]:
    """Text lines for :func:`pipeline.train.grades.format_grade_metrics`."""
    y, d, m = s["yardstick_vs_readers_on_dev"], s["machine_vs_spans_on_dev"], s["machine_vs_spans_held_out"]
    lines = ["", f"Held-out check: {s['dataset']}, {m['policies']} policies (kappa)"]
    lines.append(f"{'criterion':16s} {'spans~readers dev':>17s} {'machine~spans dev':>17s} {'machine~spans held-out':>22s}")
    for c in CRITERIA:
        lines.append(f"{c:16s} {y['criteria'][c]['kappa']:17.2f} {d['criteria'][c]['kappa']:17.2f} {m['criteria'][c]['kappa']:22.2f}")
    if "full_share" in s:
        lines += ["", "Share judged full (no truth needed): readers dev / machine dev / machine held-out"]
        lines += [f"{c:16s} {r['readers_dev']:.2f} / {r['machine_dev']:.2f} / {r['machine_held_out']:.2f}" for c, r in s["full_share"].items()]
    return lines
