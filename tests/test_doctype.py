"""Tests of doctype.classify_document: synthetic texts written for these tests, plus the 40 CA4P dev documents."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest


from pipeline.read.extract import extract_html, extract_text
from pipeline.records import PolicyText

from pipeline.read.doctype import DocType, classify_document

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def doc(text: str) -> PolicyText:
    return extract_text(text)


def filler_zh(topic: str, n: int = 4) -> str:
    """A few generic sentences, so sections have realistic length."""
    return "\n\n".join(
        f"{i}、在{topic}方面，我们会遵循合法、正当、必要的原则，仅在实现本节所述目的所需的范围内处理相关信息，"
        f"并采取加密、访问控制等安全措施，防止信息被泄露、篡改或丢失。" for i in range(1, n + 1)
    )


ZH_POLICY = f"""示例天气隐私政策

更新日期：2023年1月1日

示例科技有限公司（以下简称“我们”）深知个人信息对您的重要性。本政策与《示例天气用户服务协议》共同适用于您对本应用的使用，用户协议中的账号注册等约定请另行阅读。

一、我们如何收集和使用您的个人信息

{filler_zh("收集设备信息、位置信息")}

二、我们如何使用Cookie和同类技术

{filler_zh("Cookie")}

三、我们如何共享、转让、公开披露您的个人信息

{filler_zh("共享和公开披露")}

四、我们如何保护您的个人信息

{filler_zh("安全保护")}

五、您的权利

您可以访问、更正、删除您的个人信息，也可以撤回同意或注销账号。

六、我们如何处理未成年人的个人信息

七、本政策如何更新

八、如何联系我们

如对本政策有任何疑问，可发送邮件至 privacy@example.com。
"""

ZH_AGREEMENT = """示例音乐用户服务协议

欢迎您使用示例音乐。请您务必审慎阅读、充分理解各条款内容，特别是免除或者限制责任的条款、法律适用和争议解决条款。

一、账号注册

1、您应当使用真实身份信息注册账号，并对账号下的行为负责。

二、用户行为规范

1、您不得利用本服务制作、复制、发布违法信息，不得干扰本服务的正常运行。

三、用户个人信息保护

1、我们重视对您个人信息的保护，具体规则请参见《示例音乐隐私政策》。

四、服务费用

1、部分服务需要付费，收费标准以页面公示为准。

五、知识产权

1、本服务中的软件、文字、图片的著作权和商标权归我们所有。

六、违约责任

1、如您违反本协议，我们有权暂停或终止向您提供服务，并要求您赔偿损失。

七、免责声明

1、因不可抗力导致服务中断的，我们不承担责任。

八、法律适用与争议解决

1、本协议适用中华人民共和国法律，争议由被告住所地人民法院管辖。
"""

ZH_AGREEMENT_WITH_POLICY = f"""示例阅读服务协议

第一部分：服务协议

一、账号注册

1、您应当使用真实身份信息注册账号。

二、用户行为规范

1、您不得利用本服务发布违法信息。

三、知识产权

1、本服务内容的著作权归我们所有。

四、违约责任

1、如您违反本协议，我们有权终止服务。

五、免责声明与不可抗力

1、因不可抗力导致服务中断的，我们不承担责任。

六、法律适用与争议解决

1、本协议适用中华人民共和国法律，争议由我们所在地人民法院管辖。

第二部分：隐私政策

我们如何收集和使用您的个人信息

{filler_zh("收集和使用个人信息", 6)}

我们如何共享、转让、公开披露您的个人信息

{filler_zh("共享、转让", 3)}

我们如何存储和保护您的个人信息

{filler_zh("存储期限和安全措施", 3)}

您的权利

您可以访问、更正、删除您的个人信息。

如何联系我们

请发送邮件至 privacy@example.com。
"""

EN_POLICY = """Example Co. Privacy Policy

Last updated: January 1, 2023

This Privacy Policy explains how Example Co. collects, uses and shares personal information. Your use of the service is also governed by our Terms of Service, which include the governing law and arbitration provisions.

Information We Collect

We collect information you provide, such as your email address, and information collected automatically, such as your IP address and device identifiers.

How We Use Your Information

We use personal information to provide and improve the service and for analytics.

How We Share Information

We share personal information with service providers and third parties acting on our behalf, and we may disclose it when required by law.

Cookies and Similar Technologies

We use cookies and web beacons. You can opt out of advertising cookies.

Data Retention

We retain personal data for as long as needed to provide the service.

Your Rights and Choices

You may access, correct or delete your personal information.

Children's Privacy

We do not knowingly collect personal information from children under 13.

Changes to This Policy

We will post updates to this policy on this page.

Contact Us

Email privacy@example.com.
"""

EN_TERMS = """Example Co. Terms of Service

These Terms of Service govern your use of the Example service. Our Privacy Policy explains how we handle personal information; please read it too.

1. Acceptance of Terms

By using the service you agree to these terms.

2. Your Account

You are responsible for your account and password.

3. Prohibited Conduct

You may not misuse the service, reverse engineer it or infringe intellectual property.

4. Intellectual Property

All content is owned by Example Co. and protected by copyright and trademark law.

5. Disclaimer of Warranties

The service is provided "as is" without warranty of any kind.

6. Limitation of Liability

Example Co. is not liable for indirect damages. You agree to indemnify Example Co. against claims.

7. Termination

We may terminate or suspend your access at any time.

8. Governing Law and Disputes

These terms are governed by the laws of the State of Example; disputes are resolved by binding arbitration.
"""

MIT_LICENCE = """MIT License

Copyright (c) 2023 Example Author

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated documentation files (the "Software"), to deal in the Software without restriction, including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED. IN NO EVENT SHALL THE AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY.
"""

ZH_TERMS_OF_SALE = """示例商城销售条款

一、订单

1、您提交订单后，商品价格以页面显示为准。

二、配送

1、我们将在付款后七日内发货，运费由买方承担。

三、退换货

1、商品签收后七日内可申请退货，退款将原路退回。
"""

HOMEPAGE = """示例科技 首页

产品中心

新闻动态

关于我们

加入我们

示例科技成立于2010年，专注于智能家居产品的研发与销售，产品远销三十多个国家和地区。欢迎下载我们的应用，体验更便捷的生活。

Copyright © 2023 示例科技 版权所有
"""

NEWS = """Local team wins the regional final

The home side came from behind to win 3-2 on Saturday evening, with two goals in the last ten minutes. The coach praised the players' fitness and the support of the crowd, and said the team would now prepare for the national tournament next month. Tickets for the next home game go on sale on Monday at the stadium box office and online.
"""


def test_chinese_policy_that_mentions_the_user_agreement() -> None:
    result = classify_document(doc(ZH_POLICY))
    assert result.doctype is DocType.PRIVACY_POLICY, result.reason
    assert result.section is None
    assert "示例天气隐私政策" in result.reason


def test_chinese_user_agreement_that_mentions_the_privacy_policy() -> None:
    result = classify_document(doc(ZH_AGREEMENT))
    assert result.doctype is DocType.USER_AGREEMENT, result.reason
    assert result.section is None


def test_chinese_agreement_with_embedded_privacy_policy() -> None:
    policy = doc(ZH_AGREEMENT_WITH_POLICY)
    result = classify_document(policy)
    assert result.doctype is DocType.AGREEMENT_WITH_PRIVACY_SECTION, result.reason
    assert result.section is not None
    start, end = result.section
    assert policy.text[start:end].startswith("第二部分：隐私政策")
    assert end == len(policy.text) or policy.text[end:].strip() == ""
    assert "第二部分" in result.reason


def test_agreement_with_a_privacy_chapter_declared_in_the_title() -> None:
    chapter = "三、用户个人信息保护\n\n" + filler_zh("收集、使用、共享、存储个人信息", 12) + "\n\n"
    text = ZH_AGREEMENT.replace("示例音乐用户服务协议", "示例音乐用户协议与隐私政策").replace(
        "三、用户个人信息保护\n\n1、我们重视对您个人信息的保护，具体规则请参见《示例音乐隐私政策》。\n\n", chapter
    )
    policy = doc(text)
    result = classify_document(policy)
    assert result.doctype is DocType.AGREEMENT_WITH_PRIVACY_SECTION, result.reason
    assert result.section is not None
    assert policy.text[result.section[0]:].startswith("三、用户个人信息保护")


def test_short_privacy_clause_in_an_agreement_is_not_a_section() -> None:
    # an agreement's usual "个人信息保护" clause (a few lines) does not make it a mixed document
    text = ZH_AGREEMENT.replace(
        "1、我们重视对您个人信息的保护，具体规则请参见《示例音乐隐私政策》。",
        filler_zh("个人信息保护", 2),
    )
    assert classify_document(doc(text)).doctype is DocType.USER_AGREEMENT


def test_english_policy_and_terms() -> None:
    policy = classify_document(doc(EN_POLICY))
    assert policy.doctype is DocType.PRIVACY_POLICY, policy.reason
    terms = classify_document(doc(EN_TERMS))
    assert terms.doctype is DocType.USER_AGREEMENT, terms.reason
    assert "Terms of Service" in terms.reason


def test_english_terms_with_embedded_privacy_policy() -> None:
    embedded = "\n\nPrivacy Policy\n\n" + EN_POLICY.split("\n", 3)[3] + ("\nWe collect and share data as described above. " * 10)
    policy = doc(EN_TERMS + embedded)
    result = classify_document(policy)
    assert result.doctype is DocType.AGREEMENT_WITH_PRIVACY_SECTION, result.reason
    assert result.section is not None
    assert policy.text[result.section[0]:].startswith("Privacy Policy")


@pytest.mark.parametrize("text", [MIT_LICENCE, ZH_TERMS_OF_SALE, HOMEPAGE, NEWS, "404 Not Found", ""])
def test_other_documents(text: str) -> None:
    result = classify_document(doc(text))
    assert result.doctype is DocType.OTHER, result.reason


def test_navigation_tabs_do_not_decide() -> None:
    # a page whose first lines are the two links "用户协议 / 隐私政策", followed by a policy
    result = classify_document(doc("用户协议\n\n隐私政策\n\n" + ZH_POLICY))
    assert result.doctype is DocType.PRIVACY_POLICY, result.reason


def test_policy_without_line_breaks() -> None:
    flat = " ".join(line for line in ZH_POLICY.split("\n") if line.strip())
    assert classify_document(PolicyText(text=flat, language="zh")).doctype is DocType.PRIVACY_POLICY


def test_reason_is_a_short_english_sentence() -> None:
    for text in (ZH_POLICY, ZH_AGREEMENT, ZH_AGREEMENT_WITH_POLICY, EN_TERMS):
        reason = classify_document(doc(text)).reason
        assert 20 < len(reason) < 400
        assert any(word in reason for word in ("title", "agreement", "privacy"))


# ---------------------------------------------------------------- the 40 CA4P dev documents

DEV = DATA / "ca4p-transparency-dev" / "doctypes.csv"
RAW = DATA / "ca4p-483" / "raw_data"
SAME = {"agreement_with_privacy_policy": DocType.AGREEMENT_WITH_PRIVACY_SECTION.value}


@pytest.mark.skipif(not DEV.exists() or not RAW.exists(), reason="needs ../shared/data (ca4p-transparency-dev and ca4p-483 texts) beside the clone; not present here")
def test_dev_documents() -> None:
    from pipeline.content.charset import decode_body

    with DEV.open(encoding="utf-8") as fh:
        truth = {row["policy_id"]: SAME.get(row["doctype"], row["doctype"]) for row in csv.DictReader(fh)}
    wrong: list[str] = []
    for policy_id, label in truth.items():
        text, _ = decode_body((RAW / f"{policy_id}.html").read_bytes(), "text/html; charset=utf-8")
        policy = extract_html(text)
        result = classify_document(policy)
        if result.doctype.value != label:
            wrong.append(f"{policy_id}: {label} -> {result.doctype.value} ({result.reason})")
        if result.doctype is DocType.AGREEMENT_WITH_PRIVACY_SECTION:
            assert result.section is not None and 0 <= result.section[0] < result.section[1] <= len(policy.text)
    assert len(truth) == 40
    assert not wrong, "\n".join(wrong)  # 40/40 on the dev set
