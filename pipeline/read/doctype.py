"""What kind of document a fetched "privacy policy" really is: privacy policy, user agreement,
agreement carrying a privacy section, or other (licence, terms of sale, not a policy).

    result = classify_document(policy)   # DocTypeResult(doctype, reason, section)

Signals, Chinese and English, all explainable in ``reason``: the **title zone** (page title and
the first short lines: 用户协议 / Terms of Service vs 隐私政策 / Privacy Policy, both, or a
licence); **headings** (blocks and numbered lines 第X条, 一、, 1.2, (一), 【...】) counted by distinct
agreement topics (account, conduct, IP, breach, liability, law/disputes, termination, fees) and
privacy topics (collection, use, sharing, cookies, storage, security, rights, minors, changes,
contact); **vocabulary** (distinct agreement vs privacy terms, substring checks, no regex over the
whole text). An agreement with a heading that *names* a privacy document, or a long privacy
chapter covering most privacy topics, or a separate part that reads as a policy, is
AGREEMENT_WITH_PRIVACY_SECTION with that part's span. A sentence that only *mentions* the other
document (请参见《隐私政策》, "see our Terms of Service") counts for nothing. Linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pipeline.records import PolicyText

__all__ = ["DocType", "DocTypeResult", "classify_document"]


class DocType(StrEnum):
    PRIVACY_POLICY = "privacy_policy"
    USER_AGREEMENT = "user_agreement"
    AGREEMENT_WITH_PRIVACY_SECTION = "agreement_with_privacy_section"
    OTHER = "other"


@dataclass(frozen=True)
class DocTypeResult:
    doctype: DocType
    reason: str
    section: tuple[int, int] | None = None  # AGREEMENT_WITH_PRIVACY_SECTION: [start, end) of the privacy part


# ---------------------------------------------------------------- titles

_AGREEMENT_TITLE = re.compile(
    r"(?:用户|服务|使用|注册|许可|会员|软件|平台|通行证|账号|帐号|产品|网站|客户端)(?:服务)?(?:协议|合同)"
    r"|(?:用户|服务|使用)(?:和|与|及|&|、)隐私(?:权)?(?:协议|条款|政策)"
    r"|服务条款|使用条款|用户条款|用户须知|使用须知|服务规则|协议必备条款"
    r"|terms\s+of\s+(?:service|use)|terms\s+(?:and|&)\s+conditions|conditions\s+of\s+use"
    r"|user\s+agreement|service\s+agreement|licen[cs]e\s+agreement|\beula\b",
    re.I,
)
_PRIVACY_TITLE = re.compile(
    r"隐私.{0,6}(?:政策|指引|声明|申明|条款|协议|规则|制度|说明)"
    r"|个人信息.{0,6}(?:政策|指引|声明|申明|规则|制度)"
    r"|privacy\s+(?:policy|notice|statement|charter)|data\s+(?:protection|privacy)\s+(?:policy|notice)"
    r"|cookies?\s+(?:policy|notice)",
    re.I,
)
# A software licence text or terms of sale: not a policy, not a user agreement.
_OTHER_TITLE = re.compile(
    r"许可证|开源许可|开放源代码|销售条款|购买条款|销售协议|买卖合同|购销合同|退换货政策|退货政策"
    r"|\b(?:mit|bsd|apache|gnu|mozilla\s+public|creative\s+commons)\b.{0,30}licen[cs]e"
    r"|general\s+public\s+licen[cs]e|terms\s+(?:and\s+conditions\s+)?of\s+sale|conditions\s+of\s+sale"
    r"|return\s+policy|refund\s+policy",
    re.I,
)

# a title is no sentence: no clause punctuation, no trailing colon, not "本政策/本协议 ..."
_NOT_TITLE = re.compile(r"[，,。；;]|[:：]$|^本")
# a text that names itself near its start: "本隐私权保护政策适用于 ...", "This Privacy Policy describes ..."
_SELF_REF = re.compile(
    r"本[《“\"]?[^。，；,\n《》“”\"]{0,12}?(?:政策|指引|声明|协议|条款)"
    r"|\b(?:this|these)\s+(?:[A-Z][\w-]*\s+){0,3}(?:Policy|Notice|Statement|Terms|Agreement)\b"
)
SELF_REF_CHARS = 400
TITLE_ZONE_LINES = 10
TITLE_ZONE_CHARS = 600
TITLE_LINE_MAX = 60


# ---------------------------------------------------------------- headings

_NUM = "一二三四五六七八九十百零〇两"
_DECOR = re.compile(r"[\s\[\]_#*>|【】「」《》“”\"'·•●◆■□▪-]*")
_NUMBERING: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("part", re.compile(rf"第[{_NUM}\d]{{1,4}}(?:部分|篇|编)|part\s+[ivx\d]{{1,4}}\b", re.I)),
    ("chapter", re.compile(rf"第[{_NUM}\d]{{1,4}}章|chapter\s+\d{{1,3}}\b", re.I)),
    ("article", re.compile(rf"第[{_NUM}\d]{{1,4}}[条節节]|(?:article|section)\s+\d{{1,3}}\b", re.I)),
    ("cn", re.compile(rf"[{_NUM}]{{1,3}}\s?[、.．]")),
    ("cnparen", re.compile(rf"[（(][{_NUM}]{{1,3}}[)）]")),
    ("d3", re.compile(r"\d{1,2}[.．]\d{1,2}[.．]\d{1,2}(?!\d)")),
    ("d2", re.compile(r"\d{1,2}[.．]\d{1,2}(?![.．]?\d)")),
    ("d1", re.compile(r"\d{1,2}\s?[、.．](?!\d)")),
    ("paren", re.compile(r"[（(]\d{1,2}[)）]")),
    ("bracket", re.compile(r"【[^】\n]{1,20}】")),
)
# a short line that is nothing but a document name ("隐私政策：", "《用户协议》", "Privacy Policy")
_DOC_LINE = re.compile(r"[^，,。；;！!？?]*[:：]?$")
DOC_LINE_MAX = 16
_BARE_PRIVACY = re.compile(r"\W{0,3}(?:用户)?(?:隐私|个人信息保护|privacy)\W{0,3}$", re.I)
_SENTENCE_END = re.compile(r"[。；;！!？?]")
_CJK = re.compile(r"[\u4e00-\u9fff]")
HEADING_MAX_CJK = 40
HEADING_MAX_LATIN = 90


@dataclass(frozen=True)
class _Heading:
    start: int  # offset of the line in policy.text
    end: int
    text: str
    style: str  # numbering style, "plain" for an unnumbered heading block


# ---------------------------------------------------------------- topics and vocabulary

_PRIVACY_TOPICS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("collection", re.compile(r"收集|获取.{0,4}信息|collect|information\s+we\s+(?:gather|receive|obtain)", re.I)),
    ("use", re.compile(r"如何使用|信息的使用|使用.{0,4}(?:个人|用户|您的)信息|how\s+we\s+use|use\s+of\s+(?:your\s+)?(?:personal\s+)?(?:information|data)", re.I)),
    ("sharing", re.compile(r"共享|转让|公开披露|对外提供|委托处理|信息披露|披露|shar(?:e|ing)|disclos|transfer", re.I)),
    ("cookies", re.compile(r"cookie|同类技术|追踪技术|tracking", re.I)),
    ("storage", re.compile(r"存储|储存|保存|保留|retain|retention|storage|stored", re.I)),
    ("security", re.compile(r"如何保护|信息安全|安全措施|保护.{0,6}信息|security|safeguard|protect", re.I)),
    ("rights", re.compile(r"您的权利|你的权利|用户权利|管理.{0,6}信息|访问.{0,6}更正|更正.{0,6}删除|your\s+(?:rights|choices)|access.{0,30}(?:correct|update|delete)|opt[\s-]out", re.I)),
    ("minors", re.compile(r"未成年|儿童|children|child|minors", re.I)),
    ("changes", re.compile(r"(?:政策|指引|声明).{0,6}(?:更新|修订|变更|修改)|(?:更新|修订|变更|修改).{0,6}(?:政策|指引|声明)|changes\s+to\s+(?:this|our)|updates?\s+to\s+(?:this|our)|policy\s+(?:changes|updates)", re.I)),
    ("contact", re.compile(r"联系我们|与我们联系|如何联系|contact(?:ing)?\s+us|how\s+to\s+contact", re.I)),
)
_AGREEMENT_TOPICS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("account", re.compile(r"(?:账号|帐号|账户|帐户|通行证).{0,4}(?:注册|使用|管理|安全|保管|密码|取得)|注册.{0,4}(?:账号|帐号|账户|帐户)|^.{0,8}注册$|account\s+(?:registration|security)|your\s+account", re.I)),
    ("conduct", re.compile(r"用户行为|行为规范|使用规则|使用规范|内容规范|用户的?义务|您的义务|合法使用|禁止|acceptable\s+use|prohibited|user\s+conduct|restrictions", re.I)),
    ("ip", re.compile(r"知识产权|著作权|所有权|intellectual\s+property|copyright|trademark", re.I)),
    ("breach", re.compile(r"违约|违规处理|违法行为|breach|violation", re.I)),
    ("liability", re.compile(r"免责|责任限制|责任范围|不可抗力|按现状|disclaimer|limitation\s+of\s+liability|warrant|indemni", re.I)),
    ("law", re.compile(r"法律适用|适用法律|管辖|争议解决|纠纷|governing\s+law|dispute|arbitration|jurisdiction", re.I)),
    ("termination", re.compile(r"(?:服务|协议)的?(?:变更|中止|中断|终止)|协议终止|终止服务|terminat|suspension", re.I)),
    ("fees", re.compile(r"费用|收费|资费|付费|充值|订阅|退款|fees|payment|billing|subscription|refund", re.I)),
    ("terms", re.compile(r"协议的?(?:范围|效力|接受|生效|变更|修改)|本协议|服务(?:内容|说明)|定义$|acceptance\s+of\s+(?:the\s+)?terms|modifications?\s+to\s+(?:the\s+)?(?:terms|service)", re.I)),
)
# Distinct terms that are characteristic of each genre (counted once each, whole text).
_AGREEMENT_TERMS = (
    "违约责任", "违约", "知识产权", "争议解决", "管辖", "服务费用", "账号注册", "帐号注册", "注册账号", "免责",
    "法律适用", "适用法律", "甲方", "乙方", "不可抗力", "赔偿", "仲裁", "人民法院", "著作权", "商标",
    "用户行为规范", "服务的中止", "服务的终止", "终止服务", "责任限制", "按现状", "用户不得", "您不得", "侵权",
    "governing law", "indemnif", "terminat", "warrant", "limitation of liability", "arbitration",
    "jurisdiction", "intellectual property", "you agree", "as is", "breach", "you may not", "prohibited",
)
_PRIVACY_TERMS = (
    "个人信息", "共享", "转让", "公开披露", "cookie", "同类技术", "设备信息", "位置信息", "敏感个人信息",
    "第三方sdk", "撤回", "更正", "删除", "存储期限", "保存期限", "儿童", "个人信息保护负责人", "去标识化",
    "匿名化", "收集", "设备标识", "隐私", "权限", "personal information", "personal data", "personally identifiable",
    "collect", "third parties", "third-party", "disclose", "retain", "retention", "your rights", "opt out",
    "opt-out", "children", "web beacon", "ip address", "cookies", "privacy", "do not track", "analytics",
    "advertising", "device identifier", "log data", "log files", "unsubscribe", "data protection", "gdpr",
    "ccpa", "california", "location information", "email address",
)
_AGREEMENT_LOWER = tuple(t.lower() for t in _AGREEMENT_TERMS)
_PRIVACY_LOWER = tuple(t.lower() for t in _PRIVACY_TERMS)

# A body heading that names a privacy document or regime ("第二部分：隐私权政策", "5. 用户隐私权制度").
_PRIVACY_SECTION_STRONG = re.compile(
    r"隐私(?:权)?(?:政策|保护政策|条款|声明|制度|保护指引|指引|协议|规则)|个人信息保护(?:政策|指引|声明|规则|制度)"
    r"|privacy\s+(?:policy|notice|statement)",
    re.I,
)
# A privacy-policy heading of its own (its revision, its scope): not the start of an embedded policy.
_PRIVACY_SELF_REF = re.compile(r"本(?:隐私)?政策|政策的|(?:修订|更新|变更|适用范围|联系)", re.I)
# A generic protection clause of an agreement ("三、用户个人信息保护").
_PRIVACY_SECTION_WEAK = re.compile(
    r"(?:个人信息|隐私|用户信息|个人资料|用户数据|个人数据).{0,6}(?:保护|收集|使用|政策|安全)|信息保护|隐私权|privacy|personal\s+(?:information|data)"
    r"|^\W{0,3}(?:用户)?(?:隐私|个人信息)\W{0,3}$",
    re.I,
)
# An embedded policy is more than a clause: it is long, says what is collected and covers several topics.
STRONG_SECTION_MIN_CHARS = 1000
PART_MIN_TOPICS = 4
STRONG_SECTION_MIN_TOPICS = 4
WEAK_SECTION_MIN_CHARS = 2500
WEAK_SECTION_MIN_TOPICS = 7

# an agreement part must remain besides the privacy section: some text with some agreement signals
OUTSIDE_MIN_CHARS = 800
MIN_AGREEMENT_STRUCTURE = 3  # agreement chapters outside the privacy part that make a text an agreement
MIN_AGREEMENT_OUTSIDE = 1.5
MIN_TEXT_CHARS = 150
MIN_GENRE_SCORE = 4.0
TITLE_BONUS = 4.0


# ---------------------------------------------------------------- helpers


def _lines(text: str) -> list[tuple[int, int, str]]:
    """(start, end, stripped text) of each non-empty line."""
    out: list[tuple[int, int, str]] = []
    pos = 0
    for raw in text.split("\n"):
        stripped = raw.strip()
        if stripped:
            lead = len(raw) - len(raw.lstrip())
            out.append((pos + lead, pos + lead + len(stripped), stripped))
        pos += len(raw) + 1
    return out


def _numbering_style(line: str) -> str | None:
    decor = _DECOR.match(line)
    core = line[decor.end():] if decor else line
    if line.startswith("【") and _NUMBERING[-1][1].match(line):
        return "bracket"
    for name, pattern in _NUMBERING[:-1]:
        if pattern.match(core):
            return name
    return None


def _is_short(line: str) -> bool:
    limit = HEADING_MAX_CJK if _CJK.search(line) else HEADING_MAX_LATIN
    return len(line) <= limit


def _headings(policy: PolicyText, lines: list[tuple[int, int, str]]) -> list[_Heading]:
    # heading blocks, and short list items that read as titles (extract_text turns "1. Acceptance of Terms" into one)
    block_starts = {
        b.start for b in policy.blocks
        if b.kind == "heading" or (b.kind == "list_item" and b.end - b.start <= HEADING_MAX_CJK and not _SENTENCE_END.search(policy.text, b.start, b.end))
    }
    out: list[_Heading] = []
    for start, end, line in lines:
        style = _numbering_style(line)
        if style is not None:
            head = line[:HEADING_MAX_CJK * 2]
            # a numbered heading is short, or its first clause is ("1. 适用范围：本政策适用于 ...")
            if _is_short(line) and not _SENTENCE_END.search(line[:-1]):
                out.append(_Heading(start, end, line, style))
            elif start in block_starts and _is_short(head.split("。")[0]):
                out.append(_Heading(start, end, head, style))
        elif start in block_starts and _is_short(line):
            out.append(_Heading(start, end, line, "plain"))
        elif len(line) <= DOC_LINE_MAX and _DOC_LINE.match(line) and (
            _PRIVACY_TITLE.search(line) or _AGREEMENT_TITLE.search(line) or _BARE_PRIVACY.match(line)
        ):
            out.append(_Heading(start, end, line, "plain"))  # "隐私政策：" on a line of its own
    return out


def _topics(texts: list[str], table: tuple[tuple[str, re.Pattern[str]], ...]) -> set[str]:
    found: set[str] = set()
    for text in texts:
        for name, pattern in table:
            if name not in found and pattern.search(text):
                found.add(name)
    return found


def _terms(text: str) -> tuple[set[str], set[str]]:
    """The distinct agreement and privacy terms used (substring search, C speed)."""
    lower = text.lower()
    return {t for t in _AGREEMENT_LOWER if t in lower}, {t for t in _PRIVACY_LOWER if t in lower}


def _title_zone(policy: PolicyText, lines: list[tuple[int, int, str]]) -> list[tuple[int, str]]:
    """(line index or -1 for the page title, text) of the title candidates."""
    zone: list[tuple[int, str]] = []
    if policy.title and len(policy.title) <= 120:
        zone.append((-1, policy.title))
    for i, (start, _end, line) in enumerate(lines[:TITLE_ZONE_LINES]):
        if start > TITLE_ZONE_CHARS:
            break
        if i == 0 and len(line) > TITLE_LINE_MAX:
            # text without line breaks: the title is the head of the first line, up to a space
            head = line[:TITLE_LINE_MAX].split()[0] if line.split() else ""
            if head and len(head) < TITLE_LINE_MAX and not _NOT_TITLE.search(head):
                zone.append((i, head))
            continue
        if len(line) <= TITLE_LINE_MAX and not _NOT_TITLE.search(line):
            zone.append((i, line))
    return zone


def _title_kind(text: str) -> str | None:
    agreement = _AGREEMENT_TITLE.search(text)
    privacy = _PRIVACY_TITLE.search(text)
    if agreement and privacy:
        return "both"
    if _OTHER_TITLE.search(text) and not privacy:
        return "other"
    if agreement:
        return "agreement"
    if privacy:
        return "privacy"
    return None


def _lead_title(policy: PolicyText, lines: list[tuple[int, int, str]]) -> tuple[str | None, str, int]:
    """The kind of the first titled line, its text and its line index (-1: the page title)."""
    zone = _title_zone(policy, lines)
    # prefer the text's own first title line; the page title decides only if the text has none
    ordered = [*(z for z in zone if z[0] >= 0), *(z for z in zone if z[0] < 0)]
    for n, (index, text) in enumerate(ordered):
        kind = _title_kind(text)
        if kind is None:
            continue
        if kind in ("agreement", "privacy") and index >= 0:
            # "用户协议 / 隐私政策" as separate lines: links or tabs of a page, not this document's title
            opposite = "privacy" if kind == "agreement" else "agreement"
            for index2, text2 in ordered[n + 1:]:
                if index2 >= 0 and _title_kind(text2) == opposite:
                    return "tabs", f"{_quote(text)} and {_quote(text2)}", index2
        return kind, text.strip(), index
    for m in _SELF_REF.finditer(policy.text[:SELF_REF_CHARS]):
        kind = _title_kind(m.group(0))
        if kind in ("agreement", "privacy"):
            return "self_" + kind, m.group(0), -1
    return None, "", -1


def _section_end(headings: list[_Heading], at: int, rank: dict[str, int], text_len: int) -> int:
    head = headings[at]
    if head.style == "plain":
        # an unnumbered privacy heading: its part ends at a part heading, an agreement title, or a
        # top-level numbering style new to the part whose first or second heading names an agreement topic
        inside: set[str] = set()
        rest = headings[at + 1:]
        for j, later in enumerate(rest):
            if later.style in ("part", "chapter") or _AGREEMENT_TITLE.search(later.text):
                return later.start
            if later.style not in RESTART_STYLES or later.style in inside:
                continue
            inside.add(later.style)
            same = [later, *[h for h in rest[j + 1:] if h.style == later.style][:1]]
            if any(_topics([h.text], _AGREEMENT_TOPICS) for h in same):
                return later.start
        return text_len
    for later in headings[at + 1:]:
        if later.style != "plain" and rank[later.style] <= rank[head.style]:
            return later.start
    return text_len


_ONE = re.compile(rf"(?:第[一1]\s?[条章]|一\s?[、.．]|1\s?[、.．](?!\d)|(?:article|section|chapter)\s+1\b)", re.I)
RESTART_STYLES = frozenset({"article", "chapter", "cn", "d1"})


def _parts(headings: list[_Heading], body_from: int, text_len: int) -> list[tuple[int, int, list[_Heading]]]:
    """Split the body where a new document starts: a numbering that restarts at 1 (一、 after 六、,
    with no higher-ranked heading since), a part heading (第二部分), or a heading that is a document name."""
    body = [h for h in headings if h.start >= body_from]
    rank: dict[str, int] = {}
    for h in body:
        if h.style != "plain":
            rank.setdefault(h.style, len(rank))
    cuts: list[int] = []
    last_seen: dict[str, int] = {}  # style -> index of its previous heading in the current part
    for i, h in enumerate(body):
        restart = False
        decor = _DECOR.match(h.text)
        if h.style in RESTART_STYLES and h.style in last_seen and _ONE.match(h.text[decor.end() if decor else 0:]):
            between = body[last_seen[h.style] + 1 : i]
            restart = not any(b.style != "plain" and rank[b.style] < rank[h.style] for b in between)
        named = h.style == "plain" and len(h.text) <= DOC_LINE_MAX and bool(_PRIVACY_TITLE.search(h.text) or _AGREEMENT_TITLE.search(h.text))
        if restart or named or h.style == "part":
            if i > 0:
                cuts.append(i)
            last_seen = {}
        if h.style != "plain":
            last_seen[h.style] = i
    bounds = [0, *cuts, len(body)]
    out: list[tuple[int, int, list[_Heading]]] = []
    for a, b in zip(bounds, bounds[1:]):
        if a >= b:
            continue
        start = body_from if a == 0 else body[a].start
        end = body[b].start if b < len(body) else text_len
        out.append((start, end, body[a:b]))
    return out


def _privacy_part(
    policy: PolicyText, headings: list[_Heading], body_from: int
) -> tuple[tuple[int, int], str, int] | None:
    """A part of the body that reads as a privacy policy of its own, beside an agreement part:
    (span, its first heading, its privacy heading topics)."""
    parts = _parts(headings, body_from, len(policy.text))
    if len(parts) < 2:
        return None
    found = None
    agreement_elsewhere = False
    for start, end, heads in parts:
        texts = [h.text for h in heads]
        p = _topics(texts, _PRIVACY_TOPICS)
        a = _topics(texts, _AGREEMENT_TOPICS)
        if (
            found is None and "collection" in p and len(p) >= PART_MIN_TOPICS and len(p) > len(a)
            and end - start >= STRONG_SECTION_MIN_CHARS
        ):
            found = ((start, end), heads[0].text if heads else "", len(p))
        elif len(a) >= PART_MIN_TOPICS - 1 and len(a) > len(p):
            agreement_elsewhere = True
    return found if agreement_elsewhere else None


def _find_privacy_section(
    policy: PolicyText, headings: list[_Heading], body_from: int, declared: bool = False
) -> tuple[tuple[int, int], str, str] | None:
    """The embedded privacy part of an agreement: (span, heading, strength) or None."""
    rank: dict[str, int] = {}
    for h in headings:
        if h.style != "plain":
            rank.setdefault(h.style, len(rank))
    text = policy.text
    for i, h in enumerate(headings):
        if h.start < body_from:
            continue
        strong = bool(_PRIVACY_SECTION_STRONG.search(h.text)) and not _PRIVACY_SELF_REF.search(h.text)
        weak = not strong and bool(_PRIVACY_SECTION_WEAK.search(h.text))
        if not (strong or weak):
            continue
        end = _section_end(headings, i, rank, len(text))
        body = text[h.start:end]
        topics = _topics([body], _PRIVACY_TOPICS)
        if "collection" not in topics:
            continue
        if strong and len(body) >= STRONG_SECTION_MIN_CHARS and len(topics) >= STRONG_SECTION_MIN_TOPICS:
            return (h.start, end), h.text, "strong"
        if weak and len(body) >= WEAK_SECTION_MIN_CHARS and len(topics) >= WEAK_SECTION_MIN_TOPICS:
            return (h.start, end), h.text, "weak"
        if weak and declared and len(body) >= STRONG_SECTION_MIN_CHARS and len(topics) >= STRONG_SECTION_MIN_TOPICS:
            return (h.start, end), h.text, "declared"
    part = _privacy_part(policy, headings, body_from)
    if part is not None:
        span, head, _n = part
        return span, head, "part"
    return None


def _examples(items: set[str], n: int = 3) -> str:
    picked = sorted(items, key=lambda t: (-len(t), t))[:n]
    return "/".join(picked)


def _clip(text: str, n: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _quote(title: str) -> str:
    title = _clip(title.strip("《》“”\"' ").replace("《", "").replace("》", ""))
    return f"《{title}》" if _CJK.search(title) else f'"{title}"'


# ---------------------------------------------------------------- classifier


def classify_document(policy: PolicyText) -> DocTypeResult:
    """Classify a fetched document: privacy policy, user agreement, agreement with a privacy part, other."""
    text = policy.text
    if len(text.strip()) < MIN_TEXT_CHARS:
        return DocTypeResult(DocType.OTHER, f"only {len(text.strip())} characters of text: not a policy or an agreement", None)

    lines = _lines(text)
    headings = _headings(policy, lines)
    kind, title_text, title_index = _lead_title(policy, lines)
    # the body starts after the title line (or after the title zone if no title line was found)
    if title_index >= 0:
        body_from = lines[title_index][1] + 1
    else:
        zone_lines = [i for i, _ in _title_zone(policy, lines) if i >= 0]
        body_from = lines[max(zone_lines)][1] + 1 if zone_lines else 0
    body_headings = [h.text for h in headings if h.start >= body_from]
    p_topics = _topics(body_headings, _PRIVACY_TOPICS)
    a_topics = _topics(body_headings, _AGREEMENT_TOPICS)
    a_terms, p_terms = _terms(text)

    a_score = len(a_topics) + 0.5 * len(a_terms)
    p_score = len(p_topics) + 0.5 * len(p_terms)
    if kind in ("agreement", "both"):
        a_score += TITLE_BONUS
    if kind in ("privacy", "both"):
        p_score += TITLE_BONUS
    if kind == "self_agreement":
        a_score += TITLE_BONUS / 2
    if kind == "self_privacy":
        p_score += TITLE_BONUS / 2
    if kind == "tabs":
        titled = f"links or tabs {title_text} at the top name both kinds"
    elif kind is not None and kind.startswith("self_"):
        titled = f"no title, but the text calls itself {_quote(title_text)}"
    else:
        titled = f"title {_quote(title_text)}" if title_text else "no title naming the document"
    counts = (
        f"{len(a_topics)} agreement headings and {len(a_terms)} agreement terms"
        + (f" ({_examples(a_terms)})" if a_terms else "")
        + f" vs {len(p_topics)} privacy headings and {len(p_terms)} privacy terms"
        + (f" ({_examples(p_terms)})" if p_terms else "")
    )

    if kind == "other" and len(p_topics) < 3:
        return DocTypeResult(DocType.OTHER, f"{titled} names a licence or terms of sale; {counts}", None)
    if max(a_score, p_score) < MIN_GENRE_SCORE:
        if p_terms and p_score > a_score:  # a short privacy notice is still a privacy policy, if a thin one
            return DocTypeResult(DocType.PRIVACY_POLICY, f"{titled}; a short text, mostly privacy terms: {counts}", None)
        return DocTypeResult(DocType.OTHER, f"{titled}; too few agreement or privacy signals: {counts}", None)

    agreement = a_score > p_score or (kind == "agreement" and a_score >= p_score)
    if kind == "both":
        agreement = True
    # an agreement structure (several agreement chapters) may carry a whole policy that outweighs it
    if agreement or len(a_topics) >= MIN_AGREEMENT_STRUCTURE:
        found = _find_privacy_section(policy, headings, body_from, declared=kind == "both")
        if found is not None and not agreement and kind not in ("agreement", "self_agreement"):
            span = found[0]
            out_heads = [h.text for h in headings if h.start >= body_from and not span[0] <= h.start < span[1]]
            out_a = _topics(out_heads, _AGREEMENT_TOPICS)
            if len(out_a) < MIN_AGREEMENT_STRUCTURE or len(out_a) <= len(_topics(out_heads, _PRIVACY_TOPICS)):
                found = None
            # titled as a privacy policy: only a part that names itself an agreement makes it mixed
            # (a "法律声明" / legal-notice part of a policy does not)
            elif kind == "privacy" and not any(_AGREEMENT_TITLE.search(t) for t in out_heads):
                found = None
        if found is not None:
            span, head, strength = found
            outside = text[body_from:span[0]] + "\n" + text[span[1]:]
            out_topics = _topics([h.text for h in headings if h.start >= body_from and not span[0] <= h.start < span[1]], _AGREEMENT_TOPICS)
            out_terms, _ = _terms(outside)
            if len(out_topics) < MIN_AGREEMENT_STRUCTURE and (
                len(outside.strip()) < OUTSIDE_MIN_CHARS or len(out_topics) + 0.5 * len(out_terms) < MIN_AGREEMENT_OUTSIDE
            ):
                return DocTypeResult(
                    DocType.PRIVACY_POLICY,
                    f"{titled}, but besides the privacy part headed {_quote(head)} ({span[1] - span[0]} characters) "
                    f"there is almost no agreement text ({len(out_topics)} agreement headings, {len(out_terms)} agreement terms)",
                    None,
                )
            how = {
                "strong": "names a privacy policy",
                "weak": "covers most privacy-policy topics",
                "declared": "holds the privacy rules the title announces",
                "part": "starts a separate part with privacy-policy chapters",
            }[strength]
            return DocTypeResult(
                DocType.AGREEMENT_WITH_PRIVACY_SECTION,
                f"{titled} and {counts}; the section headed {_quote(head)} {how} "
                f"({span[1] - span[0]} characters)",
                span,
            )
    if agreement and kind == "both":
        return DocTypeResult(
            DocType.USER_AGREEMENT,
            f"{titled} names both, but its privacy part is no more than a short clause; {counts}",
            None,
        )
    if agreement:
        return DocTypeResult(DocType.USER_AGREEMENT, f"{titled} and {counts}", None)
    return DocTypeResult(DocType.PRIVACY_POLICY, f"{titled} and {counts}", None)
