"""Flatten any form payload into labelled fields, in the order they came.

Each field is marked as the person's answer, an extra answer, or the tool's envelope (form name,
ids, timestamps); detection (`app.intake.detect`) only picks from answers.

Rules worth knowing:
- Answers live in known containers (`data`, `fields`, `properties`, `field_data`, `namedValues`,
  `payload`, Jotform `rawRequest`, Unbounce `data.json`, Typeform `answers`...). When a level holds
  one, its own scalars are envelope. Without any container the top-level keys are the answers.
- `[{label|title|question|name|key, value|values|answer}]` lists and `{key: {title, value}}` dicts
  are named by their label. Other nested dicts are named by dotted path (`name.first`).
- A separate dialing code (`country_code: "+44"`, Jotform `{country, area, phone}`) is put in front
  as `+44 ` only when the phone itself starts with neither `+` nor `00`; the trunk `0` is left
  for phonenumbers to drop.
- Bounded work: depth 8, 500 kept fields, 5,000 visited values, 10,000 characters a value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import islice
from typing import Any

MAX_DEPTH = 8  # deeper than any real form tool nests its answers
MAX_FIELDS = 500  # a hostile payload is truncated, never stored whole
MAX_NODES = 5_000  # values visited: wide junk must not burn CPU before the field cap bites
MAX_LIST_ITEMS = 100  # scalars joined into one value (checkbox groups)
MAX_VALUE_CHARS = 10_000
MAX_NAME_CHARS = 200  # names are matched by regex many times; long ones cost, and mean nothing
MAX_BLOB_CHARS = 1_000_000  # embedded JSON strings we agree to parse

# Tiers, in the order detection trusts them.
ANSWER, EXTRA, ENVELOPE = 0, 1, 2

ANSWER_CONTAINERS = frozenset(
    {"data", "fields", "form_fields", "properties", "namedvalues", "field_data", "answers"}
    | {"form_data", "formdata", "submission", "payload", "lead", "contact", "form_response"}
    | {"rawrequest", "data.json", "responses"}
)
# Answers kept beside the main ones; they do not turn their siblings into envelope.
EXTRA_CONTAINERS = frozenset({"questions_and_answers", "hidden", "hidden_fields"})
JSON_BLOBS = frozenset({"rawrequest", "data.json"})

LABEL_KEYS = ("label", "title", "question", "name", "key", "field", "ref")
VALUE_KEYS = ("value", "values", "answer", "response")
NAME_PARTS = ("first", "middle", "last")
PHONE_PARTS = frozenset({"full", "area", "phone", "number", "country", "countrycode", "code"})

NAME_PREFIX = re.compile(r"^\s*(?:q\d+_|your[\s_-]*|input_|field_)")
WRAPPER_SEGMENTS = frozenset(
    {"fields", "formfields", "data", "value", "full", "answers", "properties", "namedvalues"}
    | {"fielddata", "payload", "rawrequest", "input"}
)
PHONE_NAME = re.compile(
    r"(?:mobile|cell|contact|primary|home|work|business|best|main|daytime|customer|lead)?"
    r"(?:phone|mobile|cell|cellular|tel|telephone|whatsapp)(?:number|no|num|nr|mobile|cell)?"
    r"|contactnumber"
)
# Jotform's phone object is recognised by its name; detection uses the same pattern.
DIAL_CODE = re.compile(r"\(?(?:\+|00)?(\d{1,4})\)?")
DIAL_CODE_IN_TEXT = re.compile(r"\+(\d{1,4})\b")  # "United Kingdom (+44)"
BRACKETED_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])+)")


@dataclass(frozen=True)
class Field:
    name: str  # unique key in FormFields.fields
    value: str
    tier: int
    kind: str = ""  # the type the form tool declared, if any
    aliases: tuple[str, ...] = ()  # other names a field_map or detection may know it by


@dataclass(frozen=True)
class _Place:
    """Where a value sits: the name it would get, its full path, its tier and its depth."""

    prefix: str = ""
    path: str = ""
    tier: int = ANSWER
    depth: int = 0

    def child(self, key: str) -> _Place:
        return _Place(_join(self.prefix, key), _join(self.path, key), self.tier, self.depth + 1)

    def container(self, key: str, tier: int, prefix: str = "") -> _Place:
        # A container's answers are named by their own keys, not by the container's.
        return _Place(prefix, _join(self.path, key), tier, self.depth + 1)

    def as_tier(self, tier: int) -> _Place:
        return replace(self, tier=tier)


class _Flattener:
    """Walks a payload into fields, within the depth, visit and size budgets."""

    def __init__(self) -> None:
        self.fields: list[Field] = []
        self._names: set[str] = set()
        self._visits = 0

    def add(self, name: str, value: str, at: _Place, kind: str = "", *aliases: str) -> None:
        if not name or len(self.fields) >= MAX_FIELDS:
            return
        name, path = name[:MAX_NAME_CHARS], at.path[:MAX_NAME_CHARS]
        unique = next((n for n in (name, path) if n and n not in self._names), "")
        # Labels repeat ("Name" of the form and of the person); the path tells them apart.
        unique = unique or f"{path or name}#{len(self.fields) + 1}"
        self._names.add(unique)
        known_as = tuple(a[:MAX_NAME_CHARS] for a in (unique, name, path, *aliases) if a)
        self.fields.append(Field(unique, value[:MAX_VALUE_CHARS], at.tier, kind, known_as))

    def spent(self) -> bool:
        """Counts one visit; true once a budget is used up, so the rest is skipped unread."""
        self._visits += 1
        return self._visits > MAX_NODES or len(self.fields) >= MAX_FIELDS

    def walk(self, node: Any, at: _Place) -> None:
        if at.depth > MAX_DEPTH or self.spent():
            return
        if isinstance(node, Mapping):
            self._walk_mapping(node, at)
        elif isinstance(node, list | tuple):
            self._walk_list(node, at)
        else:
            # Envelope keeps its full path: Webflow's `payload.name` is no person's name.
            self.add(at.path if at.tier == ENVELOPE else at.prefix, _text(node), at)

    def _walk_mapping(self, node: Mapping[Any, Any], at: _Place) -> None:
        if at.prefix and (self._add_field_object(node, at) or self._add_phone_parts(node, at)):
            return
        if _holds_answers(node):
            at = at.as_tier(ENVELOPE)
        if _is_typeform_response(node):
            self._add_typeform_answers(node, at)
            node = {k: v for k, v in _items(node) if k not in ("answers", "definition")}
            at = at.as_tier(ENVELOPE)
        for key, value in _items(node):
            self._walk_child(key, value, at)

    def _walk_child(self, key: str, value: Any, at: _Place) -> None:
        folded = key.casefold()
        if folded in JSON_BLOBS:
            value = _parse_blob(value)
        if folded in ANSWER_CONTAINERS and isinstance(value, Mapping | list):
            self.walk(value, at.container(key, ANSWER, "" if isinstance(value, Mapping) else key))
        elif folded in EXTRA_CONTAINERS and isinstance(value, Mapping | list):
            self.walk(value, at.container(key, EXTRA, "" if isinstance(value, Mapping) else key))
        else:
            self.walk(value, at.child(key))

    def _walk_list(self, items: list[Any] | tuple[Any, ...], at: _Place) -> None:
        head = items[:MAX_NODES]
        if all(_is_scalar(item) for item in head):
            self.add(at.prefix, _join_values(head), at)
            return
        for index, item in enumerate(head):
            if self.spent():
                return
            if not (isinstance(item, Mapping) and self._add_pair(item, at)):
                self.walk(item, at.child(str(index)))

    def _add_pair(self, item: Mapping[Any, Any], at: _Place) -> bool:
        """`{name: "phone_number", values: […]}` (Facebook), `{question, answer}` (Calendly)."""
        label = _label_of(item) or _string(item.get("id"))
        if not label or not _has_value(item):
            return False
        self._add_labelled(item, label, at.container(label, at.tier))
        return True

    def _add_field_object(self, node: Mapping[Any, Any], at: _Place) -> bool:
        """`fields: {phone: {title: "Phone", value: "…"}}` (Elementor, WPForms, HubSpot)."""
        if not _has_value(node):
            return False
        self._add_labelled(node, _label_of(node) or at.prefix, at, at.prefix)
        return True

    def _add_labelled(self, obj: Mapping[Any, Any], label: str, at: _Place, *aliases: str) -> None:
        names = (_string(obj.get(k)) for k in (*LABEL_KEYS, "id"))
        self.add(label, _value_text(obj), at, _string(obj.get("type")), *names, *aliases)
        value = _first_value(obj)
        # WPForms' name field carries its parts beside the joined value.
        for source in (obj, value) if isinstance(value, Mapping) else (obj,):
            for part in NAME_PARTS:
                if _string(source.get(part)):
                    self.add(f"{label}.{part}", _string(source[part]), at.container(part, at.tier))

    def _add_phone_parts(self, node: Mapping[Any, Any], at: _Place) -> bool:
        """Jotform's phone is `{full}` or `{area, phone}`, sometimes with a country code."""
        last_segment = at.prefix.rsplit(".", 1)[-1]
        if not PHONE_NAME.fullmatch(squash(last_segment)) or len(node) > len(PHONE_PARTS):
            return False
        parts = {re.sub(r"[^a-z0-9]", "", k.casefold()): _string(v) for k, v in _items(node)}
        if not parts.keys() <= PHONE_PARTS or not all(map(_is_scalar, node.values())):
            return False
        number = parts.get("phone") or parts.get("number")
        local = parts.get("full") or " ".join(p for p in (parts.get("area"), number) if p)
        code = parts.get("countrycode") or parts.get("country") or parts.get("code")
        self.add(at.prefix, with_country_code(local, code) or "", at, "phone")
        return True

    def _add_typeform_answers(self, response: Mapping[Any, Any], at: _Place) -> None:
        """Answers are typed (`{type: "email", email: "…", field: {id, ref}}`), titled apart."""
        titles = _typeform_titles(response.get("definition"))
        for answer in response["answers"][:MAX_NODES]:
            field = answer.get("field") if isinstance(answer, Mapping) else None
            if self.spent():
                return
            if not isinstance(field, Mapping):
                continue
            ref, field_id = _string(field.get("ref")), _string(field.get("id"))
            kind = _string(field.get("type")) or _string(answer.get("type"))
            where = at.container(f"answers.{ref or field_id}", ANSWER)
            label = titles.get(field_id) or ref or field_id
            self.add(label, _typeform_value(answer), where, kind, ref, field_id)


def flatten(payload: Any) -> list[Field]:
    flattener = _Flattener()
    if isinstance(payload, Mapping):
        payload = _apply_wufoo_structure(_nest_bracket_keys(payload))
    if isinstance(payload, Mapping | list | tuple):
        flattener.walk(payload, _Place())
    return flattener.fields


def _holds_answers(node: Mapping[Any, Any]) -> bool:
    for key, value in _items(node):
        folded = key.casefold()
        if folded in JSON_BLOBS and isinstance(value, str) and value.lstrip().startswith("{"):
            return True
        if folded in ANSWER_CONTAINERS and isinstance(value, Mapping | list):
            return True
    return False


def _value_text(obj: Mapping[Any, Any]) -> str:
    value = _first_value(obj)
    if isinstance(value, list | tuple):
        return _join_values(_option_texts(obj, value))
    if isinstance(value, Mapping):
        return " ".join(t for t in map(_text, islice(value.values(), MAX_LIST_ITEMS)) if t)
    return _text(value)


def _option_texts(obj: Mapping[Any, Any], chosen: list[Any] | tuple[Any, ...]) -> list[str]:
    # Tally sends choices as option ids, with the options' texts beside them.
    options = obj.get("options")
    options = options[:MAX_NODES] if isinstance(options, list) else []
    texts = {
        _string(o.get("id")): _string(o.get("text")) for o in options if isinstance(o, Mapping)
    }
    return [texts.get(_string(v)) or _string(v) for v in chosen[:MAX_LIST_ITEMS]]


# Tool-specific shapes ------------------------------------------------------------------------


def _is_typeform_response(node: Mapping[Any, Any]) -> bool:
    answers = node.get("answers")
    return isinstance(answers, list) and any(
        isinstance(a, Mapping) and isinstance(a.get("field"), Mapping) for a in answers[:5]
    )


def _typeform_titles(definition: Any) -> dict[str, str]:
    fields = definition.get("fields") if isinstance(definition, Mapping) else None
    if not isinstance(fields, list):
        return {}
    return {
        _string(f.get("id")): _string(f.get("title"))
        for f in fields[:MAX_NODES]
        if isinstance(f, Mapping)
    }


def _typeform_value(answer: Mapping[Any, Any]) -> str:
    kind = answer.get("type")
    value = answer.get(kind) if isinstance(kind, str) else None
    if isinstance(value, Mapping):  # choice {label}, choices {labels}, payment {...}
        value = (
            value.get("label")
            or value.get("labels")
            or value.get("other")
            or [v for v in islice(value.values(), MAX_LIST_ITEMS) if _is_scalar(v)]
        )
    return _join_values(value) if isinstance(value, list) else _text(value)


def _apply_wufoo_structure(payload: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """Wufoo posts `Field4=…` and, optionally, a FieldStructure naming Field4 "Phone Number"."""
    structure = _parse_blob(payload.get("FieldStructure"))
    if not isinstance(structure, Mapping):
        return payload
    labels = _wufoo_labels(structure.get("Fields"))
    return {
        key: {"label": labels[key][0], "type": labels[key][1], "value": value}
        if key in labels
        else value
        for key, value in payload.items()
        if key not in ("FieldStructure", "FormStructure")  # unpacked, not kept as blobs
    }


def _wufoo_labels(fields: Any) -> dict[str, tuple[str, str]]:
    labels: dict[str, tuple[str, str]] = {}
    for field in fields[:MAX_NODES] if isinstance(fields, list) else []:
        if not isinstance(field, Mapping):
            continue
        title, kind = _string(field.get("Title")), _string(field.get("Type"))
        subfields = field.get("SubFields")
        for sub in subfields[:MAX_LIST_ITEMS] if isinstance(subfields, list) else []:
            if isinstance(sub, Mapping):  # "Name" + "First" -> "Name First"
                labels[_string(sub.get("ID"))] = (f"{title} {_string(sub.get('Label'))}", kind)
        if not isinstance(subfields, list):
            labels[_string(field.get("ID"))] = (title, kind)
    return labels


def _nest_bracket_keys(payload: Mapping[Any, Any]) -> dict[str, Any]:
    """`fields[phone][value]=…` (PHP-style form posts) becomes nested dicts, as JSON would."""
    nested: dict[str, Any] = {}
    for key, value in _items(payload):
        match = BRACKETED_KEY.fullmatch(key)
        parts = [match[1], *re.findall(r"\[([^\[\]]*)\]", match[2])] if match else [key]
        if len(parts) > MAX_DEPTH or not _put(nested, [p for p in parts if p], value):
            nested.setdefault(key, value)  # a clash keeps the raw key rather than lose it
    return nested


def _put(tree: dict[str, Any], parts: list[str], value: Any) -> bool:
    if not parts:  # an empty key, or only empty brackets: kept raw
        return False
    for part in parts[:-1]:
        tree = tree.setdefault(part, {})
        if not isinstance(tree, dict):
            return False
    if parts[-1] in tree:
        return False
    tree[parts[-1]] = value
    return True


# Names and dialing codes, shared with detection ----------------------------------------------


@lru_cache(maxsize=4096)  # every role asks about the same names
def squash(name: str) -> str:
    """'Your-Phone_Number', 'q3_phoneNumber[full]', 'data.Phone' all become 'phonenumber'."""
    segments = re.split(r"[.\[\]]+", name.casefold())
    kept = (re.sub(r"[^a-z0-9]", "", NAME_PREFIX.sub("", s)) for s in segments)
    return re.sub(r"\d+$", "", "".join(s for s in kept if s not in WRAPPER_SEGMENTS))


def with_country_code(phone: str | None, country_code: str | None) -> str | None:
    digits = dial_code(country_code or "")
    if not phone or not digits or phone.startswith(("+", "00")):
        return phone
    return f"+{digits} {phone}"


def dial_code(text: str) -> str | None:
    match = DIAL_CODE.fullmatch(text.replace(" ", "")) or DIAL_CODE_IN_TEXT.search(text)
    return match[1] if match else None


# Small helpers -------------------------------------------------------------------------------


def _items(node: Mapping[Any, Any]) -> Iterator[tuple[str, Any]]:
    return ((str(key), value) for key, value in islice(node.items(), MAX_NODES))


def _label_of(obj: Mapping[Any, Any]) -> str:
    return next((s for s in (_string(obj.get(k)) for k in LABEL_KEYS) if s), "")


def _has_value(obj: Mapping[Any, Any]) -> bool:
    return any(key in obj for key in VALUE_KEYS)


def _first_value(obj: Mapping[Any, Any]) -> Any:
    return next((obj[key] for key in VALUE_KEYS if key in obj), None)


def _parse_blob(value: Any) -> Any:
    if not isinstance(value, str) or len(value) > MAX_BLOB_CHARS:
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, Mapping | list | tuple)


def _string(value: Any) -> str:
    return _text(value) if _is_scalar(value) else ""


def _text(value: Any) -> str:
    if value is None or not _is_scalar(value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        return str(value)[:MAX_VALUE_CHARS].strip()
    except ValueError:  # an int too long to print
        return ""


def _join_values(items: Any) -> str:
    return ", ".join(t for t in map(_text, islice(items, MAX_LIST_ITEMS)) if t)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
