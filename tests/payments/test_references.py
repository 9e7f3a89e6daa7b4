"""Belgian structured communications (OGM/VCS) and ISO 11649 RF references."""
from __future__ import annotations

import pytest
from stdnum.be import ogm_vcs
from stdnum.iso7064 import mod_97_10

from app.invoices.references import (
    InvalidReference,
    find_ogms,
    format_ogm,
    format_rf,
    is_valid_ogm,
    make_ogm,
    make_rf,
    normalise_ogm,
    normalise_rf,
    ogm_check_digits,
    references_for_number,
)


@pytest.mark.parametrize("base, shown", [
    (1234567890, "+++123/4567/89002+++"),
    (108068171, "+++010/8068/17183+++"),  # leading zero kept: the base has 10 digits
])
def test_domain_rules_examples(base, shown):
    digits = make_ogm(base)
    assert len(digits) == 12
    assert format_ogm(digits) == shown
    assert ogm_vcs.is_valid(digits)  # python-stdnum agrees


def test_check_digits_are_97_when_the_remainder_is_zero():
    assert ogm_check_digits(97) == "97"
    assert ogm_check_digits(97 * 12345) == "97"
    assert make_ogm(97) == "000000009797"
    assert normalise_ogm("+++000/0000/09797+++") == "000000009797"
    with pytest.raises(InvalidReference):
        normalise_ogm("000000009700")  # "00" is never a valid check


def test_base_longer_than_ten_digits_is_refused():
    with pytest.raises(InvalidReference):
        make_ogm(10**10)
    with pytest.raises(InvalidReference):
        make_ogm(-1)


@pytest.mark.parametrize("typed", [
    "+++123/4567/89002+++",
    "***123/4567/89002***",
    "123/4567/89002",
    "123 4567 89002",
    "123456789002",
    " +++ 123 / 4567 / 89002 +++ ",
    "+++123456789002+++",
])
def test_an_ogm_typed_any_way_is_normalised(typed):
    assert normalise_ogm(typed) == "123456789002"
    assert is_valid_ogm(typed)


@pytest.mark.parametrize("typed", [
    "+++123/4567/89003+++",  # wrong check digits
    "+++123/4567/8900+++",  # 11 digits
    "1234567890021",  # 13 digits
    "",
    None,
])
def test_wrong_ogms_are_refused(typed):
    assert not is_valid_ogm(typed)
    with pytest.raises(InvalidReference):
        normalise_ogm(typed)


def test_ogms_are_found_in_free_text_and_wrong_ones_ignored():
    text = ("Facture 2024-17 ***010/8068/17183*** et +++123/4567/89003+++ "
            "betaling 123 4567 89002, nogmaals 010/8068/17183")
    assert find_ogms(text) == ["010806817183", "123456789002"]
    assert find_ogms("") == []
    assert find_ogms(None) == []


def test_rf_reference_of_the_domain_rules_example():
    assert make_rf("539007547034") == "RF18539007547034"
    assert format_rf("RF18539007547034") == "RF18 5390 0754 7034"
    # The check digits are ISO 7064 mod 97-10 over ref + "RF00", as the standard says.
    assert mod_97_10.is_valid("539007547034" + "RF18")


@pytest.mark.parametrize("typed", ["RF18539007547034", "rf18 5390 0754 7034",
                                   "RF18 5390 0754 7034 "])
def test_rf_typed_any_way_is_normalised(typed):
    assert normalise_rf(typed) == "RF18539007547034"


@pytest.mark.parametrize("typed", ["RF19539007547034", "RF18539007547035", "539007547034", ""])
def test_wrong_rf_references_are_refused(typed):
    with pytest.raises(InvalidReference):
        normalise_rf(typed)


def test_rf_body_is_limited_to_21_letters_or_digits():
    assert normalise_rf(make_rf("A" * 21)) == make_rf("A" * 21)
    with pytest.raises(InvalidReference):
        make_rf("A" * 22)
    with pytest.raises(InvalidReference):
        make_rf("INV-2024")  # a dash is not alphanumeric


def test_an_invoice_number_gives_a_valid_ogm_and_its_rf():
    ogm, rf = references_for_number(4711)
    assert ogm == make_ogm(4711) and is_valid_ogm(ogm)
    assert rf == make_rf(ogm) and normalise_rf(rf) == rf
    assert rf.endswith(ogm)
