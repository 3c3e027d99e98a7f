import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ric_core.tags import format_tags, parse_tags, strip_tags, tag_names


def test_paper_format():
    assert format_tags([0.3, -1.1]) == "<rm1_score> 0.3 <rm2_score> -1.1"
    assert format_tags([4.0, -0.04, 0.26]) == "<rm1_score> 4.0 <rm2_score> 0.0 <rm3_score> 0.3"
    assert format_tags([1.0, 2.0], template="<rm{i}>") == "<rm1> 1.0 <rm2> 2.0"
    # Halfway values round as numpy (and so the mapping) rounds: a tag always equals np.round(value, 1).
    np.testing.assert_array_equal(parse_tags(format_tags([0.05, 0.25]), 2), np.round([0.05, 0.25], 1))


def test_parse_from_an_assistant_prompt():
    prompt = "\n\nHuman: How do I bake bread?  <rm1_score> 0.3 <rm2_score> -1.1 \n\nAssistant:"
    np.testing.assert_array_equal(parse_tags(prompt, 2), [0.3, -1.1])
    assert strip_tags(prompt, 2) == "\n\nHuman: How do I bake bread? \n\nAssistant:"


@given(
    st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=6),
    st.sampled_from(["<rm{i}_score>", "<rm{i}>", "[r{i}]"]),
)
def test_round_trip(values, template):
    text = "a red circle " + format_tags(values, template=template) + " ### Response:"
    parsed = parse_tags(text, len(values), template=template)
    np.testing.assert_allclose(parsed, np.round(values, 1), atol=1e-9)
    assert strip_tags(text, template=template) == "a red circle ### Response:"


def test_errors():
    with pytest.raises(ValueError, match="not found"):
        parse_tags("<rm1_score> 0.3", 2)
    with pytest.raises(ValueError, match="non-finite"):
        format_tags([np.nan, 1.0])
    with pytest.raises(ValueError, match=r"\{i\}"):
        tag_names(2, "<rm>")
