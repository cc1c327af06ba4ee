"""What an LLM reply must look like, and the check every reply passes before it becomes a prompt;
the same for a VLM's answer about one image before it enters the `descriptions` table.

The JSON schemas go to the LLM as structured output (vLLM's guided decoding, or an OpenAI
`response_format`); the checks run on every reply anyway, because a server may ignore the schema,
a reply may be cut off at `max_tokens`, and an escaped control character is valid JSON. A rejected
reply carries its reason, which ends up in the prompts table's `error` column.
"""

import json
import re
import unicodedata
from dataclasses import dataclass

# Garment and accessory nouns (LIP's clothes labels and their everyday names); an item must name
# one, so replies like "none", "the person" or random words are rejected.
GARMENTS = frozenset("""
    backpack bag belt blazer blouse boot boots cap cardigan coat dress glove gloves handbag hat
    hoodie jacket jeans jersey jumper jumpsuit leggings overalls pants parka polo pullover purse
    raincoat robe sandals scarf shirt shoe shoes shorts skirt slippers sneakers socks suit
    sunglasses sweater sweatshirt t-shirt tank-top tie tights top trainers trousers tunic uniform
    vest waistcoat windbreaker
""".split())
PERSON_WORDS = frozenset("person man woman boy girl pedestrian child adult".split())
MAX_WORDS_BEFORE_NOUN = 7
_WORD = "[a-z][a-z'-]{0,19}"


def _alternatives(words: frozenset[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=lambda w: (-len(w), w)))


def clothing_schema(*, max_items: int, max_item_chars: int) -> dict:
    """JSON schema of a clothing reply: {"items": ["red cotton t-shirt", ...]}.

    Each item is lowercase words ending in a garment noun, so guided decoding cannot produce
    junk items and a real LLM is steered to DLCR's item phrases.
    """
    item = (f"(?:{_WORD} ){{0,{MAX_WORDS_BEFORE_NOUN}}}(?:{_alternatives(GARMENTS)})")
    return {
        "type": "object",
        "properties": {"items": {
            "type": "array", "minItems": 1, "maxItems": max_items,
            "items": {"type": "string", "minLength": 2, "maxLength": max_item_chars,
                      "pattern": f"^{item}$"},
        }},
        "required": ["items"],
        "additionalProperties": False,
    }


def caption_schema(*, max_caption_chars: int) -> dict:
    """JSON schema of a caption reply: {"caption": "a tall person with long black hair ..."}."""
    caption = (f"^(?:a|an|the) (?:{_WORD} ){{0,6}}(?:{_alternatives(PERSON_WORDS)})"
               f"(?:,? {_WORD}){{0,40}}$")
    return {
        "type": "object",
        "properties": {"caption": {"type": "string", "minLength": 8,
                                   "maxLength": max_caption_chars, "pattern": caption}},
        "required": ["caption"],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class Verdict:
    """A checked reply: the prompt text and items when accepted, else the reason."""

    text: str
    items: list[str]
    error: str | None = None

    @classmethod
    def rejected(cls, reason: str) -> "Verdict":
        return cls("", [], reason)


def _control_character(text: str) -> str | None:
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            return f"U+{ord(char):04X}"
    return None


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _load_object(reply: str, field: str) -> tuple[object, str | None]:
    try:
        value = json.loads(reply)
    except json.JSONDecodeError as exc:
        return None, f"reply is not JSON ({exc.msg} at character {exc.pos}): {_short(reply)}"
    if not isinstance(value, dict) or field not in value:
        return None, f"reply has no {field!r} field: {_short(reply)}"
    return value[field], None


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z][a-z'-]*", text)


def _names_garment(item: str) -> bool:
    for word in _words(item):
        singular = word[:-1] if word.endswith("s") else word
        if word in GARMENTS or singular in GARMENTS or word.rsplit("-", 1)[-1] in GARMENTS:
            return True
    return False


def check_item(item: object, index: int, *, max_item_chars: int) -> str | None:
    """The reason item `index` of a reply is unusable, or None."""
    if not isinstance(item, str):
        return f"item {index} is not a string: {_short(repr(item))}"
    if (char := _control_character(item)) is not None:
        return f"item {index} has a control character ({char}): {_short(item)}"
    text = item.strip()
    if not text:
        return f"item {index} is empty"
    if len(text) > max_item_chars:
        return (f"item {index} is {len(text)} characters long (most {max_item_chars}): "
                f"{_short(text)}")
    if not _names_garment(text.lower()):
        return f"item {index} names no garment: {_short(text)}"
    return None


def check_clothing(reply: str, *, max_items: int, max_item_chars: int) -> Verdict:
    """Accept a clothing reply as DLCR's prompt (items joined, lowercased) or say why not."""
    items, error = _load_object(reply, "items")
    if error:
        return Verdict.rejected(error)
    if not isinstance(items, list):
        return Verdict.rejected(f"'items' is not a list: {_short(repr(items))}")
    if not items:
        return Verdict.rejected("no clothing items")
    if len(items) > max_items:
        return Verdict.rejected(f"{len(items)} items (most {max_items})")
    for index, item in enumerate(items):
        if (reason := check_item(item, index, max_item_chars=max_item_chars)) is not None:
            return Verdict.rejected(reason)
    cleaned = list(dict.fromkeys(" ".join(item.lower().split()) for item in items))
    return Verdict(", ".join(cleaned), cleaned)


def check_caption(reply: str, *, max_caption_chars: int) -> Verdict:
    """Accept a caption reply (LPE) or say why not."""
    caption, error = _load_object(reply, "caption")
    if error:
        return Verdict.rejected(error)
    if not isinstance(caption, str):
        return Verdict.rejected(f"'caption' is not a string: {_short(repr(caption))}")
    if (char := _control_character(caption)) is not None:
        return Verdict.rejected(f"caption has a control character ({char}): {_short(caption)}")
    text = " ".join(caption.lower().split())
    if not text:
        return Verdict.rejected("empty caption")
    if len(text) > max_caption_chars:
        return Verdict.rejected(f"caption is {len(text)} characters long "
                                f"(most {max_caption_chars}): {_short(text)}")
    if not PERSON_WORDS & set(_words(text)):
        return Verdict.rejected(f"caption describes no person: {_short(text)}")
    return Verdict(text, [])


# A VLM answer's alphabet: plain English text, so no control character, quote or markup reaches
# the descriptions table or the LLM's prompt.
ANSWER_CHARACTERS = "A-Za-z0-9 ,.;:'()/&!?-"  # a regex character class's contents
ANSWER_PATTERN = f"^[A-Za-z0-9][{ANSWER_CHARACTERS}]*$"


def answer_schema(*, max_answer_chars: int) -> dict:
    """JSON schema of a VLM answer: {"answer": "The person is wearing a red coat."}."""
    return {
        "type": "object",
        "properties": {"answer": {"type": "string", "minLength": 2,
                                  "maxLength": max_answer_chars, "pattern": ANSWER_PATTERN}},
        "required": ["answer"],
        "additionalProperties": False,
    }


def check_answer(reply: str, *, json_reply: bool, max_answer_chars: int) -> Verdict:
    """Accept a VLM answer about one image (JSON under `answer_schema`, or plain text) or say
    why not; the accepted text has its whitespace collapsed, and plain text longer than
    `max_answer_chars` is cut at a word boundary (JSON that long breaks its schema)."""
    answer = reply
    if json_reply:
        answer, error = _load_object(reply, "answer")
        if error:
            return Verdict.rejected(error)
        if not isinstance(answer, str):
            return Verdict.rejected(f"'answer' is not a string: {_short(repr(answer))}")
    if (char := _control_character(answer)) is not None and char not in ("U+000A", "U+0009"):
        return Verdict.rejected(f"answer has a control character ({char}): {_short(answer)}")
    text = " ".join(answer.split())
    if not json_reply and len(text) > max_answer_chars:  # cut like a reply cut at max_tokens
        text = text[:max_answer_chars + 1].rsplit(" ", 1)[0][:max_answer_chars]
    if not re.search("[A-Za-z]{2}", text):
        return Verdict.rejected(f"answer has no words: {_short(text)}")
    if len(text) > max_answer_chars:
        return Verdict.rejected(f"answer is {len(text)} characters long "
                                f"(most {max_answer_chars}): {_short(text)}")
    return Verdict(text, [])
