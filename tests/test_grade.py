"""Grading policies against the shipped rubric (pipeline.grade.grader, pipeline.grade.checks).

The sample policies below are invented for these tests (a fictional note-taking app).
"""

from __future__ import annotations

from pathlib import Path

import re
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.grade.checks import MAX_EVIDENCE, MAX_QUOTE
from pipeline.grade.grader import MIN_POLICY_CHARS, grade, grade_missing
from pipeline.grade.rubric import load_rubric
from pipeline.records import FetchOutcome, Grade, GradeStatus, Level, PolicyText, Segment
# these tests pin rubric v1's behaviour (v1 stays loadable and unchanged; v2 is tested in test_grade_v2.py)
DEFAULT_RUBRIC = Path(__file__).resolve().parents[1] / "rubrics" / "transparency.v1.yaml"

RUBRIC = load_rubric(DEFAULT_RUBRIC)

EN_TRANSPARENT = """Lumen Notes Privacy Policy
Last updated: March 1, 2024.
This privacy policy applies to the Lumen Notes app, the lumen-notes.example website and related services.
Lumen Notes Ltd, with its registered office at 12 Harbour Street, Leeds, is the data controller.
If you have questions, email privacy@lumen-notes.example or write to us at our postal address above.
When you register, we collect your name, email address and phone number.
We automatically collect your IP address, device identifier and browser type when you use the app.
With your permission we collect precise location data from GPS to tag notes with places.
We use your email address to send receipts and security alerts.
We use your device identifier to detect fraud and to keep your account secure.
We use location data to provide reminders when you arrive at a place.
You can withdraw your consent at any time in Settings, and this does not affect earlier processing.
You can access your notes and request a copy of your personal data.
You can correct your profile details at any time.
You can delete individual notes, and you can close your account from the Account page.
We share payment details only with our payment processor, and crash reports with our service providers, to run the service.
We retain account data while your account is open and delete it within 30 days after you close your account.
We encrypt data in transit with TLS and at rest, and we limit staff access with access controls.
If a data breach affects your personal data, we will notify you within 72 hours by email.
Lumen Notes is not directed to children under 13, and we ask for parental consent for users under 16.
Your data is stored in the European Union; transfers to other countries use standard contractual clauses.
If we make material changes to this policy, we will notify you by email before they take effect.
We process sensitive personal data, such as health notes you choose to tag, only with your explicit consent.
You can opt out of personalised recommendations in Settings.
You can block or delete cookies in your browser settings; we also honour Do Not Track signals.
The app embeds the Firebase Crashlytics SDK to report crashes, which receives your device model and app version.
"""

EN_MIDDLING = """Privacy Notice
Last updated: June 2023.
This privacy notice explains how we handle personal information when you use our website.
We collect your name and email address when you sign up for the newsletter.
We use personal information for the purposes described in this notice.
We may share information with third parties.
You can unsubscribe from the newsletter at any time.
You may ask us to delete your information.
We keep information as long as necessary.
We take reasonable security measures to protect your personal information.
We use cookies to remember your preferences.
This notice may be updated from time to time.
Contact us at hello@example.org with any questions about your privacy.
"""

EN_VAGUE = """Privacy
We respect your privacy and care about personal information. We may use information to improve our services and
for other business reasons. By using the site you agree to this. We may change these terms at any time.
Please read this page regularly. Your continued use of the site means you accept everything written here.
"""

ZH_TRANSPARENT = """星河笔记隐私政策
更新日期：2024年3月1日
本政策适用于星河笔记App、星河笔记网站及相关服务。
星河笔记由星河软件有限公司运营，注册地址为杭州市西湖区文三路100号。
如您有任何疑问，可发送邮件至privacy@xinghe.example或拨打客服电话400-123-4567与我们联系。
您注册账号时，我们会收集您的手机号码和昵称。
为保障账号安全，我们会收集您的设备标识和IP地址。
经您授权后，我们会收集您的位置信息，用于为笔记添加地点。
我们使用您的手机号码用于注册登录和身份验证。
我们使用设备信息是为了安全风控，防止欺诈。
我们使用位置信息以便向您推荐附近的笔记。
您可以在系统设置中关闭相应权限，撤回您的授权同意。
您可以在“我的-个人资料”中查阅、更正您的个人信息。
您可以删除笔记，也可以在“设置-账号与安全”中注销账户。
为完成支付，我们会将订单金额共享给第三方支付机构。
我们将您的个人信息保存3年，超出保存期限后，我们会删除或匿名化处理。
我们使用SSL加密传输，并采取访问控制措施保护您的信息。
如发生个人信息安全事件，我们将及时以推送通知、邮件等方式告知您。
若您是不满14周岁的未成年人，应在监护人同意后使用本服务。
我们在中华人民共和国境内收集和产生的个人信息，存储在中华人民共和国境内。
本政策更新时，我们会通过弹窗或站内信通知您。
对于敏感个人信息，我们会单独征求您的同意。
您可以在设置中关闭个性化推荐。
您可以通过浏览器设置清除或拒绝Cookie。
我们接入了友盟统计SDK，用于统计分析，该SDK会收集设备信息。
"""

ZH_MIDDLING = """隐私政策
最近更新：2023年5月20日
本政策说明我们如何收集、使用和保护您在使用本应用时提供的个人信息，请您仔细阅读。
本政策适用于星河日记App。
我们会收集您的手机号码用于注册。
我们收集信息的目的是为您提供服务，并改进我们的产品体验。
我们可能会与第三方共享您的信息，共享前我们会要求对方遵守保密义务。
您可以删除您的个人信息，也可以修改您的昵称。
我们会在必要的期限内保存您的个人信息。
我们采取安全措施保护您的个人信息，防止信息被未经授权地访问。
我们可能使用Cookie，以便记住您的偏好设置。
我们可能会适时修订本政策，修订后的政策将在本页面公布。
如有疑问、意见或建议，请发送邮件至help@example.org联系我们，我们会尽快答复。
使用本服务即表示您同意本政策的全部内容。
"""

ZH_VAGUE = """隐私说明
我们非常重视您的隐私，会依法处理您的个人信息。我们可能会使用相关信息改进服务，并用于其他合理的商业用途。
使用本软件即视为您已阅读并接受本说明的全部内容。我们有权随时修改本说明，修改后的内容一经发布即生效。
请您经常查看本页面，以了解最新内容。如您继续使用本软件，即表示您接受上述全部条款以及后续的任何修改。
本说明未尽事宜，以我们的最终解释为准。我们会尽力为您提供更好的产品和服务，感谢您一直以来的信任与支持。
我们保留在法律允许的范围内对本说明进行解释和调整的权利，请您理解。
"""

_ZH_CHAR = re.compile(r"[\u4e00-\u9fff]")


def split(text: str) -> list[Segment]:
    """A simple splitter for tests: lines, then sentences (。！？；, or . ! ? followed by a space)."""
    segments: list[Segment] = []
    for line in re.finditer(r"[^\n]+", text):
        pattern = r"[^。！？；]+[。！？；]?" if _ZH_CHAR.search(line.group()) else r".+?(?:[.!?](?=\s|$)|$)"
        for m in re.finditer(pattern, line.group()):
            piece = m.group()
            lead = len(piece) - len(piece.lstrip())
            piece = piece.strip()
            if len(piece) < 2:
                continue
            start = line.start() + m.start() + lead
            segments.append(Segment(index=len(segments), start=start, end=start + len(piece), text=piece))
    return segments


def graded(text: str, language: str, **kw) -> Grade:
    policy = PolicyText(text=text, language=language)  # type: ignore[arg-type]
    return grade(policy, split(text), RUBRIC, **kw)


def levels(g: Grade) -> dict[str, Level]:
    return {c.criterion_id: c.level for c in g.criteria}


def assert_quotes_exact(g: Grade, text: str, segments: Sequence[Segment]) -> None:
    by_index = {s.index: s for s in segments}
    for c in g.criteria:
        assert len(c.evidence) <= MAX_EVIDENCE
        for e in c.evidence:
            assert e.quote == text[e.start : e.end]
            seg = by_index[e.segment_index]
            assert seg.start <= e.start < e.end <= seg.end
            assert len(e.quote) <= MAX_QUOTE


@pytest.mark.parametrize(
    "language, texts",
    [("en", (EN_TRANSPARENT, EN_MIDDLING, EN_VAGUE)), ("zh", (ZH_TRANSPARENT, ZH_MIDDLING, ZH_VAGUE))],
)
def test_transparent_middling_and_vague_policies_get_ordered_scores_and_tiers(language, texts):
    best, middle, vague = (graded(t, language) for t in texts)
    assert all(g.status is GradeStatus.ASSESSED for g in (best, middle, vague))
    assert best.score is not None and middle.score is not None and vague.score is not None
    assert best.score > middle.score > vague.score
    assert best.tier == "high" and best.score >= 95
    assert middle.tier in ("medium", "relatively_low")
    assert vague.tier == "low"
    assert best.score == round(sum(c.points for c in best.criteria), 1)
    assert [c.criterion_id for c in best.criteria] == [c.id for c in RUBRIC.criteria]


@pytest.mark.parametrize("text, language", [(EN_TRANSPARENT, "en"), (ZH_TRANSPARENT, "zh")])
def test_transparent_policy_is_full_on_every_criterion(text, language):
    g = graded(text, language)
    not_full = {k: v for k, v in levels(g).items() if v is not Level.FULL}
    assert not not_full


@pytest.mark.parametrize(
    "text, language",
    [(EN_TRANSPARENT, "en"), (EN_MIDDLING, "en"), (EN_VAGUE, "en"), (ZH_TRANSPARENT, "zh"), (ZH_MIDDLING, "zh"), (ZH_VAGUE, "zh")],
)
def test_every_evidence_quote_is_an_exact_slice_inside_its_segment(text, language):
    segments = split(text)
    g = grade(PolicyText(text=text, language=language), segments, RUBRIC)
    assert_quotes_exact(g, text, segments)
    found = [c for c in g.criteria if c.level is not Level.NONE]
    assert all(c.evidence or c.criterion_id == "policy_exists" for c in found)


def test_middling_policy_earns_partial_credit_where_it_is_vague():
    lv = levels(graded(EN_MIDDLING, "en"))
    assert lv["retention_period"] is Level.PARTIAL  # "as long as necessary": no period
    assert lv["third_party_sharing"] is Level.PARTIAL  # shares, but not with whom
    assert lv["user_rights"] is Level.PARTIAL  # deletion only
    assert lv["security_measures"] is Level.PARTIAL
    assert lv["consent_withdrawal"] is Level.FULL  # unsubscribe
    assert lv["minors"] is Level.NONE
    zh = levels(graded(ZH_MIDDLING, "zh"))
    assert zh["retention_period"] is Level.PARTIAL
    assert zh["third_party_sharing"] is Level.PARTIAL
    assert zh["cross_border"] is Level.NONE


def test_criterion_not_found_scores_zero_with_searched_note():
    g = graded(EN_VAGUE, "en")
    n = len(split(EN_VAGUE))
    minors = next(c for c in g.criteria if c.criterion_id == "minors")
    assert (minors.level, minors.points, minors.evidence) == (Level.NONE, 0.0, ())
    assert minors.note == f"searched {n} segments, not found"
    assert minors.method == "lexicon.v1"


def test_points_are_weight_times_credit():
    g = graded(EN_MIDDLING, "en")
    weights = {c.id: c.weight for c in RUBRIC.criteria}
    credit = {Level.FULL: 1.0, Level.PARTIAL: 0.5, Level.NONE: 0.0}
    for c in g.criteria:
        assert c.weight == weights[c.criterion_id]
        assert c.points == pytest.approx(c.weight * credit[c.level])


def test_retention_full_needs_a_concrete_period_or_deletion_trigger():
    base = EN_MIDDLING.replace("We keep information as long as necessary.", "{}")
    cases = {
        "We keep the information for 24 months after your last login.": Level.FULL,
        "We retain your data until you ask us to delete it.": Level.FULL,
        "We keep your information as long as necessary for these purposes.": Level.PARTIAL,
        "Nothing about storage here.": Level.NONE,
    }
    for sentence, expected in cases.items():
        assert levels(graded(base.format(sentence), "en"))["retention_period"] is expected, sentence
    zh_base = ZH_MIDDLING.replace("我们会在必要的期限内保存您的个人信息。", "{}")
    zh_cases = {
        "您的浏览记录我们保存六个月。": Level.FULL,
        "注销账户后，我们会删除您保存的个人信息。": Level.FULL,
        "我们会在必要的期限内保存您的个人信息。": Level.PARTIAL,
        "年满十四周岁的用户需要保存好密码。": Level.PARTIAL,  # an age is not a period
    }
    for sentence, expected in zh_cases.items():
        assert levels(graded(zh_base.format(sentence), "zh"))["retention_period"] is expected, sentence


def test_updated_date_needs_a_date_near_an_update_keyword():
    pad = "\n" + EN_VAGUE
    assert levels(graded("Privacy Policy. Effective date: 2023-07-15." + pad, "en"))["updated_date"] is Level.FULL
    assert levels(graded("Privacy Policy\nRevised 12 May 2022" + pad, "en"))["updated_date"] is Level.FULL
    assert levels(graded("Privacy Policy\nMay 2022" + pad, "en"))["updated_date"] is Level.PARTIAL
    assert levels(graded("Privacy Policy" + pad, "en"))["updated_date"] is Level.NONE
    zh = levels(graded("隐私政策\n生效日期：【2021】年【11】月【1】日\n" + ZH_VAGUE, "zh"))
    assert zh["updated_date"] is Level.FULL


def test_grading_is_deterministic():
    first = graded(ZH_TRANSPARENT, "zh")
    for _ in range(3):
        assert graded(ZH_TRANSPARENT, "zh") == first
    assert graded(EN_MIDDLING, "en") == graded(EN_MIDDLING, "en")


def test_grade_carries_rubric_id_version_and_model_version():
    g = graded(EN_MIDDLING, "en", model_version="en@1.2.0", labels=[{} for _ in split(EN_MIDDLING)])
    assert (g.rubric_id, g.rubric_version, g.model_version) == ("transparency", "1.0.0", "en@1.2.0")


@pytest.mark.parametrize(
    "policy, reason",
    [
        (PolicyText(text="", language="en"), "empty"),
        (PolicyText(text="Privacy policy: we protect your privacy.", language="en"), "too short"),
        (PolicyText(text=EN_TRANSPARENT, language="other"), "unsupported language"),
        (
            PolicyText(
                text="Terms of Use. " + "By using the service you agree to these terms and to pay the fees listed. " * 5,
                language="en",
            ),
            "not a privacy policy",
        ),
        (PolicyText(text="用户协议。" + "您使用本软件时应遵守法律法规，不得发布违法内容，否则我们有权终止服务。" * 6, language="zh"), "not a privacy policy"),
    ],
)
def test_texts_that_cannot_be_assessed_get_no_score_and_a_reason(policy: PolicyText, reason: str):
    g = grade(policy, split(policy.text), RUBRIC)
    assert g.status is GradeStatus.NOT_ASSESSED
    assert g.score is None and g.tier is None and g.criteria == ()
    assert reason in g.reason


@pytest.mark.parametrize("language, sentence", [("en", "We explain privacy and personal data here. "), ("zh", "我们在这里说明隐私和个人信息的处理。")])
def test_minimum_length_is_the_documented_per_language_constant(language: str, sentence: str):
    minimum = MIN_POLICY_CHARS[language]
    short = (sentence * 20)[: minimum - 1]
    g = grade(PolicyText(text=short, language=language), split(short), RUBRIC)  # type: ignore[arg-type]
    assert "too short" in g.reason
    enough = (sentence * 20)[:minimum]
    assert grade(PolicyText(text=enough, language=language), split(enough), RUBRIC).status is GradeStatus.ASSESSED  # type: ignore[arg-type]


def test_no_policy_found_scores_zero_in_the_lowest_tier():
    g = grade_missing(RUBRIC, FetchOutcome.NO_POLICY_FOUND, "no privacy link on the homepage")
    assert g.status is GradeStatus.NO_POLICY
    assert (g.score, g.tier) == (0.0, RUBRIC.lowest_tier.id)
    assert len(g.criteria) == len(RUBRIC.criteria)
    assert all(c.level is Level.NONE and c.points == 0 and c.note == "no policy found" for c in g.criteria)
    assert g.reason == "no privacy link on the homepage"


@pytest.mark.parametrize("outcome", [o for o in FetchOutcome if o not in (FetchOutcome.NO_POLICY_FOUND, FetchOutcome.OK)])
def test_failed_fetch_is_not_assessed_never_a_bad_score(outcome: FetchOutcome):
    g = grade_missing(RUBRIC, outcome, f"fetch ended with {outcome}")
    assert g.status is GradeStatus.NOT_ASSESSED
    assert g.score is None and g.tier is None and g.criteria == ()
    assert g.reason == f"fetch ended with {outcome}"


def test_the_three_states_stay_distinct():
    no_policy = grade_missing(RUBRIC, FetchOutcome.NO_POLICY_FOUND, "none")
    failed = grade_missing(RUBRIC, FetchOutcome.TIMEOUT, "timeout")
    assessed_nothing = graded(EN_VAGUE, "en")
    assert {no_policy.status, failed.status, assessed_nothing.status} == set(GradeStatus)
    assert assessed_nothing.score is not None and assessed_nothing.score > 0  # the policy exists
    assert all("searched" in c.note for c in assessed_nothing.criteria if c.level is Level.NONE)
    assert failed.score is None and no_policy.score == 0.0


def test_segment_not_matching_text_is_misuse():
    text = EN_MIDDLING
    bad = [Segment(index=0, start=0, end=5, text="Hello")]
    with pytest.raises(ValueError, match="segment 0"):
        grade(PolicyText(text=text, language="en"), bad, RUBRIC)


def test_labels_not_parallel_to_segments_is_misuse():
    with pytest.raises(ValueError, match="labels"):
        graded(EN_MIDDLING, "en", labels=[{}])


# ---------------------------------------------------------------- classifier evidence


def label_rows(segments: Sequence[Segment], hits: Mapping[str, Mapping[str, float]]) -> list[dict[str, float]]:
    """Per-segment probabilities: 0.05 for every OPP-115 label, except the given segments."""
    rows = []
    for seg in segments:
        row = {"Data Retention": 0.05, "Data Security": 0.05, "Privacy contact information": 0.05}
        for needle, probs in hits.items():
            if needle in seg.text:
                row.update(probs)
        rows.append(row)
    return rows


def test_classifier_label_hit_alone_gives_partial_with_probability():
    segments = split(EN_VAGUE)
    assert levels(graded(EN_VAGUE, "en"))["retention_period"] is Level.NONE
    rows = label_rows(segments, {"Please read this page": {"Data Retention": 0.87}})
    g = grade(PolicyText(text=EN_VAGUE, language="en"), segments, RUBRIC, labels=rows, model_version="en@0.3.0")
    result = next(c for c in g.criteria if c.criterion_id == "retention_period")
    assert result.level is Level.PARTIAL
    assert result.method == "retention_period.v1"
    (ev,) = result.evidence
    assert ev.method == "classifier:en@0.3.0"
    assert ev.probability == pytest.approx(0.87)
    assert "Please read this page" in ev.quote and ev.quote == EN_VAGUE[ev.start : ev.end]


def test_classifier_below_threshold_is_not_evidence_and_thresholds_are_per_label():
    segments = split(EN_VAGUE)
    rows = label_rows(segments, {"Please read this page": {"Data Retention": 0.4}})
    policy = PolicyText(text=EN_VAGUE, language="en")
    default = grade(policy, segments, RUBRIC, labels=rows, model_version="m")
    assert levels(default)["retention_period"] is Level.NONE  # 0.4 < default 0.5
    lowered = grade(policy, segments, RUBRIC, labels=rows, label_thresholds={"Data Retention": 0.35}, model_version="m")
    assert levels(lowered)["retention_period"] is Level.PARTIAL


def test_classifier_hit_plus_full_rule_gives_full_and_comes_first():
    segments = split(EN_TRANSPARENT)
    rows = label_rows(segments, {"delete it within 30 days": {"Data Retention": 0.93}, "Lumen Notes Privacy Policy": {"Data Retention": 0.6}})
    g = grade(PolicyText(text=EN_TRANSPARENT, language="en"), segments, RUBRIC, labels=rows, model_version="en@1")
    result = next(c for c in g.criteria if c.criterion_id == "retention_period")
    assert result.level is Level.FULL
    first = result.evidence[0]
    assert first.method == "classifier:en@1" and first.probability == pytest.approx(0.93)
    assert "30 days" in first.quote
    assert_quotes_exact(g, EN_TRANSPARENT, segments)


def test_classifier_cannot_lower_a_rule_level_and_other_language_labels_are_ignored():
    segments = split(ZH_TRANSPARENT)
    rows = [{"Data Retention": 0.99, "CR14": 0.01} for _ in segments]  # English labels on a Chinese policy
    plain = graded(ZH_TRANSPARENT, "zh")
    with_labels = grade(PolicyText(text=ZH_TRANSPARENT, language="zh"), segments, RUBRIC, labels=rows, model_version="zh@1")
    assert levels(with_labels) == levels(plain)
    assert with_labels.score == plain.score


def test_chinese_cr_labels_are_used_for_chinese_policies():
    segments = split(ZH_VAGUE)
    rows = [{"CR17": 0.8} if "经常查看" in s.text else {"CR17": 0.1} for s in segments]
    g = grade(PolicyText(text=ZH_VAGUE, language="zh"), segments, RUBRIC, labels=rows, model_version="zh@0.1.0")
    breach = next(c for c in g.criteria if c.criterion_id == "breach_notification")
    assert breach.level is Level.PARTIAL
    assert breach.evidence[0].method == "classifier:zh@0.1.0"
    assert breach.evidence[0].probability == pytest.approx(0.8)


def test_long_segments_are_quoted_around_the_match():
    filler = "This paragraph talks about many unrelated things at length. " * 12
    text = "Privacy Policy about personal data.\n" + filler + "We retain logs for 90 days. " + filler
    segments = [Segment(index=0, start=0, end=35, text=text[:35]), Segment(index=1, start=36, end=len(text), text=text[36:])]
    g = grade(PolicyText(text=text, language="en"), segments, RUBRIC)
    result = next(c for c in g.criteria if c.criterion_id == "retention_period")
    assert result.level is Level.FULL
    (ev,) = result.evidence
    assert "90 days" in ev.quote and len(ev.quote) <= MAX_QUOTE and ev.quote == text[ev.start : ev.end]


def test_real_segmenter_gives_the_same_ordering_when_available():
    segment_mod = pytest.importorskip("pipeline.read.segment")
    scores = []
    for text in (ZH_TRANSPARENT, ZH_MIDDLING, ZH_VAGUE):
        policy = PolicyText(text=text, language="zh")
        segments = segment_mod.segment(policy)
        g = grade(policy, segments, RUBRIC)
        assert_quotes_exact(g, text, segments)
        scores.append(g.score)
    assert scores[0] > scores[1] > scores[2]


_SENTENCES = [line for text in (EN_TRANSPARENT, EN_MIDDLING, ZH_TRANSPARENT, ZH_MIDDLING) for line in text.splitlines() if line]


@settings(max_examples=40, deadline=None)
@given(
    picks=st.lists(st.sampled_from(_SENTENCES), min_size=1, max_size=30),
    noise=st.text(alphabet="ab 。.\n数据保存30天", max_size=400),
    language=st.sampled_from(["en", "zh"]),
)
def test_any_mix_of_sentences_grades_with_exact_quotes(picks: list[str], noise: str, language: str):
    text = "Privacy policy on personal data. 隐私政策与个人信息。\n" + "\n".join(picks) + "\n" + noise
    segments = split(text)
    g = grade(PolicyText(text=text, language=language), segments, RUBRIC)  # type: ignore[arg-type]
    if g.status is GradeStatus.ASSESSED:
        assert g.score is not None and 0 <= g.score <= 100
        assert_quotes_exact(g, text, segments)
    else:
        assert g.reason and g.score is None


@pytest.mark.parametrize(
    "sentence, language, expected",
    [
        ("本政策如有修改，恕不另行通知。", "zh", Level.PARTIAL),
        ("本政策如有修改，我们会通过弹窗通知您。", "zh", Level.FULL),
        ("We may change this policy at any time without notification.", "en", Level.PARTIAL),
        ("If we change this policy, we will notify you by email.", "en", Level.FULL),
    ],
)
def test_a_negated_notice_of_changes_is_not_a_notice(sentence: str, language: str, expected: Level):
    base = ZH_VAGUE if language == "zh" else EN_VAGUE
    base = base.replace("我们有权随时修改本说明，修改后的内容一经发布即生效。", "").replace("We may change these terms at any time.", "")
    assert levels(graded(base + "\n" + sentence, language))["policy_changes"] is expected


def test_contact_without_a_channel_is_partial():
    assert levels(graded(ZH_VAGUE + "\n如有疑问请联系客服。", "zh"))["contact_channel"] is Level.PARTIAL
    assert levels(graded(ZH_VAGUE + "\n如有疑问请拨打客服电话400-123-4567。", "zh"))["contact_channel"] is Level.FULL
