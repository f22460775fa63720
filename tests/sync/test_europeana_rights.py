"""Licence classes exactly as Europeana files them (corelib ``RightReusabilityCategorizer``),
and the licence filter every pull sends."""

from __future__ import annotations

import pytest

from europeana_sync.rights import (
    DEFAULT_REUSABILITY,
    Reusability,
    licence_code,
    parse_reusability,
    reusability,
    reusability_filter,
)

OPEN, RESTRICTED, PERMISSION, UNCATEGORIZED = (
    Reusability.OPEN,
    Reusability.RESTRICTED,
    Reusability.PERMISSION,
    Reusability.UNCATEGORIZED,
)

# Every URL of corelib's RightsOption that RightReusabilityCategorizer lists (europeana/corelib
# c339dd4), with the class its openUrls / restrictedUrls / permissionUrls give it, as a real
# record spells it (a version and trailing slash).
CATEGORIZER_TABLE = [
    ("http://creativecommons.org/publicdomain/mark/1.0/", OPEN),  # CC_NOC
    ("http://creativecommons.org/publicdomain/zero/1.0/", OPEN),  # CC_ZERO + "1.0/"
    ("http://creativecommons.org/licenses/by/4.0/", OPEN),  # CC_BY
    ("http://creativecommons.org/licenses/by-sa/4.0/", OPEN),  # CC_BY_SA
    ("http://creativecommons.org/licenses/by-nc/4.0/", RESTRICTED),  # CC_BY_NC
    ("http://creativecommons.org/licenses/by-nc-sa/4.0/", RESTRICTED),  # CC_BY_NC_SA
    ("http://creativecommons.org/licenses/by-nc-nd/4.0/", RESTRICTED),  # CC_BY_NC_ND
    ("http://creativecommons.org/licenses/by-nd/4.0/", RESTRICTED),  # CC_BY_ND
    ("http://www.europeana.eu/rights/out-of-copyright-non-commercial/", RESTRICTED),  # EU_OOC_NC
    ("http://rightsstatements.org/vocab/InC-EDU/1.0/", RESTRICTED),  # RS_INC_EDU
    ("http://rightsstatements.org/vocab/NoC-NC/1.0/", RESTRICTED),  # RS_NOC_NC
    ("http://rightsstatements.org/vocab/NoC-OKLR/1.0/", RESTRICTED),  # RS_NOC_OKLR
    ("http://www.europeana.eu/rights/rr-f/", PERMISSION),  # EU_RR_F
    ("http://www.europeana.eu/rights/rr-p/", PERMISSION),  # EU_RR_P
    ("http://www.europeana.eu/rights/rr-r/", PERMISSION),  # EU_RR_R
    ("http://www.europeana.eu/rights/unknown/", PERMISSION),  # EU_U
    ("http://www.europeana.eu/rights/test-orphan-work-test/", PERMISSION),  # EU_ORPHAN
    ("http://rightsstatements.org/vocab/InC/1.0/", PERMISSION),  # RS_INC
    ("http://rightsstatements.org/vocab/InC-OW-EU/1.0/", PERMISSION),  # RS_INC_OW_EU
    ("http://rightsstatements.org/vocab/CNE/1.0/", PERMISSION),  # RS_CNE
]


@pytest.mark.parametrize("uri, expected", CATEGORIZER_TABLE)
def test_every_rights_uri_of_the_categorizer_is_in_its_class(uri, expected):
    assert reusability(uri) is expected


def test_out_of_copyright_non_commercial_is_restricted():
    # Defect 8: this statement fell through to "permission", so `reusability=restricted`
    # pulls dropped what the API handed them
    assert reusability("http://www.europeana.eu/rights/out-of-copyright-non-commercial/") is RESTRICTED
    assert licence_code("http://www.europeana.eu/rights/out-of-copyright-non-commercial/") == "EU-OOC-NC"


@pytest.mark.parametrize(
    "uri, expected",
    [
        # the one leniency, corelib RightsOption.getValueByUrl's: https and letter case
        ("https://creativecommons.org/licenses/by-sa/4.0/deed.de", OPEN),
        ("HTTP://RIGHTSSTATEMENTS.ORG/vocab/NoC-NC/1.0/", RESTRICTED),
        # prefixes, as the API's RIGHTS:(<url>*) queries: CC0 must be version 1.0
        ("http://creativecommons.org/publicdomain/zero/2.0/", UNCATEGORIZED),
        ("http://rightsstatements.org/vocab/NoC-US/1.0/", UNCATEGORIZED),
        ("http://rightsstatements.org/vocab/InC-NC/1.0/", UNCATEGORIZED),
        ("http://example.org/my-licence", UNCATEGORIZED),
        (None, UNCATEGORIZED),
        ("", UNCATEGORIZED),
    ],
)
def test_spellings_and_uncategorized_statements(uri, expected):
    assert reusability(uri) is expected


def test_a_pull_always_sends_a_licence_filter_open_by_default():
    # Defect 7: without --reusability nothing was sent and every in-copyright result was
    # paged through and dropped locally
    assert DEFAULT_REUSABILITY == "open"
    assert reusability_filter(None) == "open" and reusability_filter("") == "open"
    assert reusability_filter("Restricted, open,open") == "restricted,open"
    assert parse_reusability(["open", "permission"]) == (OPEN, PERMISSION)
    with pytest.raises(ValueError, match="use open, restricted or permission"):
        reusability_filter("uncategorized")
    with pytest.raises(ValueError):
        reusability_filter("free")
