"""What a client is told when its JSON is refused (the corpus in test_bad_input_corpus checks
the status codes through the API; these check the words)."""

from __future__ import annotations

import pytest

from backend.api.strict_json import MAX_JSON_DEPTH, JSONInputError, loads_untrusted


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"weights": {"cnn": NaN}}', "NaN is not a number JSON allows"),
        ('{"label_weight": -Infinity}', "-Infinity is not a number JSON allows"),
        ("[1e400, 1]", "too large for a double"),
        ("[1" + "0" * 400 + "]", "too large for a double"),
        ("[" * 5000 + "]" * 5000, f"nested deeper than {MAX_JSON_DEPTH} levels"),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), f"nested deeper than {MAX_JSON_DEPTH} levels"),
        ('{"a": ' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1), f"nested deeper than {MAX_JSON_DEPTH}"),
        (b'{"a": ' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1), f"nested deeper than {MAX_JSON_DEPTH}"),
        (b'{"a": "\xff"}', "not UTF-8 text"),
        ('{"titre": "\u00e9t\u00e9 \u00e0 Arles \U0001f3a8", "w": NaN}'.encode(), "NaN is not a number JSON allows"),
        ('{"a": 1', "unexpected end of data"),
    ],
)
def test_refused_json_says_why(text: str | bytes, says: str) -> None:
    with pytest.raises(JSONInputError, match=says.replace("[", r"\[")):
        loads_untrusted(text)


def test_accepted_json_keeps_its_numbers_and_depth() -> None:
    deep = "[" * MAX_JSON_DEPTH + "7" + "]" * MAX_JSON_DEPTH
    value = loads_untrusted(deep)
    for _ in range(MAX_JSON_DEPTH):
        value = value[0]
    assert value == 7
    # many brackets, little depth: shallow documents with more openings than the limit pass
    siblings = "[" + ", ".join(["[1]"] * (2 * MAX_JSON_DEPTH)) + "]"
    assert loads_untrusted(siblings) == [[1]] * (2 * MAX_JSON_DEPTH)
    assert loads_untrusted('{"t": "' + "[{" * MAX_JSON_DEPTH + '"}') == {"t": "[{" * MAX_JSON_DEPTH}
    body = loads_untrusted(b'{"embedding": [0.25, 1e-7, 3], "options": {"top_k": 9223372036854775807}}')
    assert body == {"embedding": [0.25, 1e-7, 3], "options": {"top_k": 2**63 - 1}}
