"""goAML export: generated STR and CTR files validate against BOTH shipped schemas (UAE
5.0.2 with xmlschema 1.1, PPATK 4.0.2 with lxml), the shipped sample validates, a file that
does not validate is never released, amounts/dates/names are written as the schema wants,
and the configuration in force on the report date is the one used."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.goaml import service
from lightway.application.goaml.build import amount_text, date_text
from lightway.application.goaml.config import fiu_config_in_force
from lightway.application.goaml.schema import (
    SchemaInvalid,
    schema_validate,
    schema_violations,
)
from lightway.application.goaml.service import goaml_export_ctr, goaml_export_str
from lightway.application.suspicion import SuspicionInput
from lightway.data.goaml.models import GoamlFile
from tests.goaml_support import PPATK, UAE, make_config, p2p, two_customers

pytestmark = pytest.mark.django_db
SAMPLE = Path(__file__).parent / "fixtures" / "goaml" / "sample-STR-5.0.2-uae.xml"
V5 = "goAMLSchema-5.0.2-uae-fiu.xsd"
V4 = "goAMLSchema-4.0.2-ppatk.xsd"


def test_the_shipped_sample_str_validates_against_the_uae_schema():
    assert schema_violations(xsd_file=V5, document=SAMPLE.read_bytes()) == []


def test_a_name_outside_the_schema_alphabet_is_a_violation_and_is_listed():
    bad = SAMPLE.read_bytes().replace(b"<first_name>Layla", "<first_name>Лейла".encode())
    with pytest.raises(SchemaInvalid) as caught:
        schema_validate(xsd_file=V5, document=bad)
    assert "first_name" in caught.value.message
    assert "not released" in caught.value.message


def test_the_ppatk_schema_refuses_a_uae_file_with_the_reason():
    violations = schema_violations(xsd_file=V4, document=SAMPLE.read_bytes())
    assert violations and "schema_version" in violations[0]


def test_broken_xml_is_a_violation_not_a_crash():
    assert "not well-formed" in schema_violations(xsd_file=V5, document=b"<report>")[0]
    assert "not well-formed" in schema_violations(xsd_file=V4, document=b"<report>")[0]


def _ctr(now, raw):
    config = make_config(now, raw)
    a, b = two_customers(now)
    p2p(now, a, b, 2_500_000, "k1", "rent for März")
    p2p(now + timedelta(minutes=5), a, b, 999_999, "k2")  # below the threshold
    p2p(now + timedelta(minutes=9), a, b, 1_000_000, "k3")  # exactly the threshold
    files = goaml_export_ctr(
        fiu=config.fiu, start=now.date(), end=now.date(), actor="system:test", now=now
    )
    return config, files


@pytest.mark.parametrize("raw", [UAE, PPATK], ids=["uae-5.0.2", "ppatk-4.0.2"])
def test_a_ctr_validates_against_the_fius_schema_and_lists_the_large_transfers(now, raw):
    config, files = _ctr(now, raw)
    assert len(files) == 1
    document = files[0].content
    assert schema_violations(xsd_file=config.xsd_file, document=document) == []
    root = etree.fromstring(document)
    assert root.findtext("report_code") == raw["report_codes"]["CTR"]
    assert root.findtext("rentity_id") == "4711"
    amounts = [t.findtext("amount_local") for t in root.iter("transaction")]
    assert amounts == ["2500000", "1000000"]
    assert files[0].transactions == 2
    # Cyrillic name transliterated, the original kept in the comments
    assert root.find(".//t_person/first_name").text == "Dmitriy"
    assert root.find(".//t_person/last_name").text == "Ivanov"
    assert "Дмитрий Иванов" in root.find(".//t_person/comments").text
    assert root.find(".//from_account/account").text == "+256772100001"
    assert root.find(".//t_person/birthdate").text == "1990-04-01T00:00:00"
    # 09:00 UTC is 12:00 in Kampala, without a zone
    assert root.find(".//date_transaction").text == "2026-11-24T12:00:00"


def test_the_other_schema_refuses_each_file(now):
    _config, files = _ctr(now, UAE)
    assert schema_violations(xsd_file=V4, document=files[0].content)


def test_ctr_batches_one_report_per_n_transactions(now):
    config = make_config(now, UAE, ctr_batch_size=2)
    a, b = two_customers(now)
    for i in range(5):
        p2p(now + timedelta(seconds=i), a, b, 1_000_000 + i, f"b{i}")
    files = goaml_export_ctr(
        fiu=config.fiu, start=now.date(), end=now.date(), actor="system:test", now=now
    )
    assert [f.transactions for f in files] == [2, 2, 1]
    assert len({f.reference for f in files}) == 3
    for f in files:
        assert schema_violations(xsd_file=V5, document=f.content) == []


def test_no_transfer_at_the_threshold_releases_nothing(now):
    config = make_config(now, UAE)
    a, b = two_customers(now)
    p2p(now, a, b, 10, "small")
    assert (
        goaml_export_ctr(
            fiu=config.fiu, start=now.date(), end=now.date(), actor="system:test", now=now
        )
        == []
    )
    assert not GoamlFile.objects.exists()


def test_a_file_that_does_not_validate_is_never_released(now, monkeypatch):
    config = make_config(now, UAE)
    a, b = two_customers(now)
    p2p(now, a, b, 2_000_000, "x")
    real = service.report_xml

    def broken(**kw):
        return real(**kw).replace(b"<rentity_id>4711", b"<rentity_id>zero")

    monkeypatch.setattr(service, "report_xml", broken)
    with pytest.raises(SchemaInvalid, match="rentity_id"):
        goaml_export_ctr(
            fiu=config.fiu, start=now.date(), end=now.date(), actor="system:test", now=now
        )
    assert not GoamlFile.objects.exists()


def _suspicion(transfer_ids, indicators=("structuring",)):
    return SuspicionInput(
        case_reference="AML-000012",
        reason="Five transfers just below the reporting threshold within an hour",
        action="Wallet placed under enhanced monitoring",
        indicators=tuple(indicators),
        transfer_ids=tuple(transfer_ids),
        subject_user_ids=(),
        proposed_by=1,
        approved_by=2,
        approved_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize("raw", [UAE, PPATK], ids=["uae-5.0.2", "ppatk-4.0.2"])
def test_an_str_validates_against_the_fius_schema_with_its_indicators(now, raw):
    config = make_config(now, raw)
    a, b = two_customers(now)
    t1 = p2p(now, a, b, 900_000, "s1")
    t2 = p2p(now, a, b, 950_000, "s2")
    released = goaml_export_str(
        fiu=config.fiu, suspicion=_suspicion([t1.id, t2.id]), actor="staff:2", now=now
    )
    assert schema_violations(xsd_file=config.xsd_file, document=released.content) == []
    root = etree.fromstring(released.content)
    assert root.findtext("report_code") == raw["report_codes"]["STR"]
    assert [i.text for i in root.iter("indicator")] == raw["indicator_codes"]["structuring"]
    assert root.findtext("reason").startswith("Five transfers")
    assert len(root.findall("transaction")) == 2
    assert GoamlFile.objects.get(pk=released.id).case_reference == "AML-000012"


def test_an_str_with_an_unmapped_indicator_fails_fast(now):
    config = make_config(now, UAE)
    a, b = two_customers(now)
    t1 = p2p(now, a, b, 900_000, "s1")
    with pytest.raises(ValidationFailed, match="no indicator code for velocity"):
        goaml_export_str(
            fiu=config.fiu,
            suspicion=_suspicion([t1.id], ("velocity",)),
            actor="staff:2",
            now=now,
        )


def test_an_str_of_an_unknown_transfer_is_refused(now):
    config = make_config(now, UAE)
    with pytest.raises(NotFound, match="unknown transfer"):
        goaml_export_str(
            fiu=config.fiu, suspicion=_suspicion([uuid.uuid4()]), actor="staff:2", now=now
        )


def test_amounts_are_decimals_from_minor_units():
    assert amount_text(20_000_000, "UGX") == "20000000"
    assert amount_text(5_000, "GHS") == "50.00"
    assert amount_text(7, "GHS") == "0.07"
    assert amount_text(123_456_789_012, "ZMW") == "1234567890.12"


def test_dates_are_local_without_zone():
    from zoneinfo import ZoneInfo

    moment = datetime(2026, 12, 31, 22, 30, 15, 999, tzinfo=UTC)
    assert date_text(moment, ZoneInfo("Africa/Kampala")) == "2027-01-01T01:30:15"
    assert date_text(moment, ZoneInfo("Africa/Accra")) == "2026-12-31T22:30:15"


def test_the_configuration_in_force_on_the_report_date_is_used(now):
    make_config(now, UAE, effective_from=date(2026, 1, 1), rentity_id=1)
    make_config(now, UAE, effective_from=date(2026, 7, 1), rentity_id=2)
    make_config(now, UAE, effective_from=date(2027, 1, 1), rentity_id=3)
    pick = lambda d: fiu_config_in_force(fiu="demo-uae", on=d).rentity_id  # noqa: E731
    assert pick(date(2026, 6, 30)) == 1
    assert pick(date(2026, 7, 1)) == 2
    assert pick(date(2026, 12, 31)) == 2
    assert pick(date(2027, 1, 1)) == 3
    with pytest.raises(NotFound, match="no configuration in force"):
        pick(date(2025, 12, 31))
    with pytest.raises(NotFound, match="unknown FIU 'nope'"):
        fiu_config_in_force(fiu="nope", on=date(2026, 1, 1))


def test_a_ctr_uses_the_version_in_force_on_the_last_day_of_the_period(now):
    make_config(now, UAE, effective_from=date(2026, 1, 1), rentity_id=1)
    make_config(now, UAE, effective_from=now.date(), rentity_id=2)
    a, b = two_customers(now)
    p2p(now, a, b, 2_000_000, "v")
    files = goaml_export_ctr(
        fiu="demo-uae",
        start=now.date() - timedelta(days=3),
        end=now.date(),
        actor="system:test",
        now=now,
    )
    assert etree.fromstring(files[0].content).findtext("rentity_id") == "2"


def test_a_configuration_with_codes_outside_the_fius_lists_is_refused(now):
    bad = {**UAE["codes"], "transmode_code": "TRM", "contact_type": ""}
    with pytest.raises(ValidationFailed) as caught:
        make_config(
            now,
            UAE,
            codes=bad,
            report_codes={"STR": "LTKM", "CTR": "CTR"},
            indicator_codes={"x": ["NOPE"]},
        )
    problems = caught.value.details["problems"]
    assert any("codes.transmode_code" in p for p in problems)
    assert any("codes.contact_type: missing" in p for p in problems)
    assert any("report_codes.STR" in p for p in problems)
    assert any("report_codes.CTR" in p for p in problems)
    assert any("indicator_codes.x" in p for p in problems)


def test_a_backwards_period_is_refused(now):
    make_config(now, UAE)
    with pytest.raises(ValidationFailed, match="before it starts"):
        goaml_export_ctr(
            fiu="demo-uae",
            start=date(2026, 2, 2),
            end=date(2026, 2, 1),
            actor="system:test",
            now=now,
        )


def test_a_case_filed_again_returns_the_first_file(now):
    config = make_config(now, UAE)
    a, b = two_customers(now)
    t1 = p2p(now, a, b, 900_000, "s1")
    first = goaml_export_str(
        fiu=config.fiu, suspicion=_suspicion([t1.id]), actor="staff:2", now=now
    )
    again = goaml_export_str(
        fiu=config.fiu,
        suspicion=_suspicion([t1.id]),
        actor="staff:2",
        now=now + timedelta(hours=1),
    )
    assert (again.id, again.sha256, again.content) == (first.id, first.sha256, first.content)
    assert GoamlFile.objects.filter(kind="STR").count() == 1


def test_the_one_who_proposed_a_filing_cannot_be_its_approver(now):
    config = make_config(now, UAE)
    a, b = two_customers(now)
    t1 = p2p(now, a, b, 900_000, "s1")
    from dataclasses import replace

    same = replace(_suspicion([t1.id]), approved_by=1)
    with pytest.raises(ValidationFailed, match="approved by the person who proposed it"):
        goaml_export_str(fiu=config.fiu, suspicion=same, actor="staff:2", now=now)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Дмитрий Иванов", "Dmitriy Ivanov"),
        ("José Ssempala-Müller", "Jose Ssempala-Muller"),
        ("Côte d\u2019Ivoire Ọlá", "Cote d'Ivoire Ola"),
        ("N'Guessan Aké", "N'Guessan Ake"),
        ("  Zoë\t\nO\u2019Brien  ", "Zoe O'Brien"),
        ("<script>alert(1)</script>", "script alert 1 script"),
    ],
)
def test_names_are_transliterated_to_the_schema_alphabet(raw, expected):
    from lightway.application.goaml.text import name_latin

    assert name_latin(raw) == expected


def test_arabic_names_become_latin_and_stay_within_the_pattern_and_length():
    import re

    from lightway.application.goaml.text import name_latin, name_split

    for raw in ("محمد علي", "فاطمة الزهراء", "عبد الله" * 30):
        latin = name_latin(raw)
        assert latin and re.fullmatch(r"[a-zA-Z0-9 .'-]*", latin), latin
        assert len(latin) <= 100
        first, last = name_split(raw)
        assert first and last and len(first) <= 100 and len(last) <= 100
    assert name_latin("محمد") == "mhmd"


def test_an_arabic_named_customer_s_ctr_validates(now):
    from tests.factories import funded_wallet
    from tests.goaml_support import person

    config = make_config(now, UAE)
    a, _b = two_customers(now)
    uid = person("goaml-fatima", now, name="فاطمة الزهراء", phone="+256772100003")
    c = funded_wallet(uid, "UGX", 0, now)
    p2p(now, a, c, 1_500_000, "ar")
    files = goaml_export_ctr(
        fiu=config.fiu, start=now.date(), end=now.date(), actor="system:test", now=now
    )
    assert schema_violations(xsd_file=V5, document=files[0].content) == []
    assert "فاطمة الزهراء" in files[0].content.decode()  # the original kept in comments
