"""The check every LLM reply passes before it becomes a prompt, and the JSON schemas sent along."""

import json
import re

import pytest

from factory.describe.replies import (
    answer_schema,
    caption_schema,
    check_answer,
    check_caption,
    check_clothing,
    clothing_schema,
)
from factory.laptop.toyworld.world import make_identity, make_outfit

LIMITS = {"max_items": 12, "max_item_chars": 64}


def clothing(items) -> str:
    return json.dumps({"items": items})


def test_a_good_reply_becomes_dlcr_prompt_items_joined_and_lowercased():
    verdict = check_clothing(clothing(["Red Cotton T-shirt", " blue  jeans", "white sneakers"]),
                             **LIMITS)
    assert verdict.error is None
    assert verdict.items == ["red cotton t-shirt", "blue jeans", "white sneakers"]
    assert verdict.text == "red cotton t-shirt, blue jeans, white sneakers"


def test_repeated_items_are_kept_once():
    verdict = check_clothing(clothing(["black shoes", "Black shoes", "grey coat"]), **LIMITS)
    assert verdict.items == ["black shoes", "grey coat"]


@pytest.mark.parametrize(("reply", "reason"), [
    ('{"items": ["red shirt", ', "reply is not JSON"),
    ("Sure! The person wears a red shirt.", "reply is not JSON"),
    ('["red shirt"]', "reply has no 'items' field"),
    ('{"clothes": ["red shirt"]}', "reply has no 'items' field"),
    ('{"items": "red shirt"}', "'items' is not a list"),
    ('{"items": []}', "no clothing items"),
    ('{"items": ["red shirt", 7]}', "item 1 is not a string"),
    ('{"items": ["   "]}', "item 0 is empty"),
    ('{"items": ["none"]}', "item 0 names no garment"),
    ('{"items": ["the person"]}', "item 0 names no garment"),
    ('{"items": ["qzx vvbn"]}', "item 0 names no garment"),
    ('{"items": ["red\\u0007 shirt"]}', "item 0 has a control character (U+0007)"),
    ('{"items": ["red shirt\\n"]}', "item 0 has a control character (U+000A)"),
    ('{"items": ["red \\u202e shirt"]}', "item 0 has a control character (U+202E)"),
    (json.dumps({"items": ["very " * 20 + "long shirt"]}), "item 0 is 110 characters long"),
    (json.dumps({"items": ["red shirt"] * 13}), "13 items (most 12)"),
])
def test_bad_clothing_replies_are_rejected_with_the_reason(reply, reason):
    verdict = check_clothing(reply, **LIMITS)
    assert verdict.error is not None and verdict.error.startswith(reason), verdict.error
    assert verdict.text == "" and verdict.items == []


def test_a_reply_cut_off_at_max_tokens_is_not_json():
    whole = clothing(["red cotton t-shirt", "blue denim trousers"])
    assert "not JSON" in check_clothing(whole[:25], **LIMITS).error


@pytest.mark.parametrize(("reply", "reason"), [
    ('{"caption": ""}', "empty caption"),
    ('{"caption": 3}', "'caption' is not a string"),
    ('{"caption": "a red shirt and blue jeans"}', "caption describes no person"),
    ('{"caption": "a tall man\\u0000 with short hair"}', "caption has a control character"),
    (json.dumps({"caption": "a man " + "with hair " * 40}), "caption is 405 characters long"),
    ("a tall man", "reply is not JSON"),
])
def test_bad_captions_are_rejected_with_the_reason(reply, reason):
    verdict = check_caption(reply, max_caption_chars=300)
    assert verdict.error is not None and verdict.error.startswith(reason), verdict.error


def test_a_good_caption_passes():
    verdict = check_caption('{"caption": "A tall man with short black hair, wearing a red coat"}',
                            max_caption_chars=300)
    assert verdict.error is None
    assert verdict.text == "a tall man with short black hair, wearing a red coat"


def _full_match(schema_pattern: str, text: str) -> bool:
    return re.fullmatch(schema_pattern.strip("^$"), text) is not None


def test_the_schemas_admit_every_toy_world_description_and_nothing_the_check_rejects():
    item_pattern = clothing_schema(**LIMITS)["properties"]["items"]["items"]["pattern"]
    caption_pattern = caption_schema(max_caption_chars=300)["properties"]["caption"]["pattern"]
    for pid in range(40):
        for outfit in (make_outfit(0, pid, index) for index in range(3)):
            assert all(_full_match(item_pattern, item) for item in outfit.items()), outfit.items()
            assert check_clothing(clothing(outfit.items()), **LIMITS).error is None
            caption = f"{make_identity(0, pid).describe()}, wearing {outfit.describe()}"
            assert _full_match(caption_pattern, caption), caption
    for junk in ("none", "the person", "red", "red shirt\n", "x" * 30 + " shirt"):
        assert not _full_match(item_pattern, junk) or check_clothing(
            clothing([junk]), **LIMITS).error is None


def test_a_vlm_answer_is_json_under_its_schema_or_plain_text():
    reply = json.dumps({"answer": "The person is wearing a  red coat."})
    verdict = check_answer(reply, json_reply=True, max_answer_chars=300)
    assert verdict.error is None and verdict.text == "The person is wearing a red coat."
    pattern = answer_schema(max_answer_chars=300)["properties"]["answer"]["pattern"]
    assert _full_match(pattern, verdict.text)
    plain = check_answer("A red coat\nand blue jeans", json_reply=False, max_answer_chars=300)
    assert plain.text == "A red coat and blue jeans"
    # Plain text is cut at a word boundary, as generation cuts it at max_tokens.
    cut = check_answer("a red coat " * 10, json_reply=False, max_answer_chars=24)
    assert cut.error is None and cut.text == "a red coat a red coat a"


@pytest.mark.parametrize(("reply", "json_reply", "reason"), [
    ('{"answer": "a red', True, "reply is not JSON"),
    ('{"clothes": "a red coat"}', True, "reply has no 'answer' field"),
    ('{"answer": 3}', True, "'answer' is not a string"),
    ('{"answer": "a red\\u0007 coat"}', True, "answer has a control character (U+0007)"),
    ('{"answer": "..., ;"}', True, "answer has no words"),
    (json.dumps({"answer": "a red coat " * 40}), True, "answer is 439 characters long"),
    ("a \u202e coat", False, "answer has a control character (U+202E)"),
    ("   ", False, "answer has no words"),
])
def test_bad_vlm_answers_are_rejected_with_the_reason(reply, json_reply, reason):
    verdict = check_answer(reply, json_reply=json_reply, max_answer_chars=300)
    assert verdict.error is not None and verdict.error.startswith(reason), verdict.error
