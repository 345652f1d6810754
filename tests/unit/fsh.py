"""A small reader for FHIR Shorthand (FSH) instance files, enough for the published scoring
examples: assignment rules (``* item[0].linkId = "44250-9"``), indented paths, codes and
codings with aliases. Not a FSH compiler: profiles, RuleSets and slicing are not read."""

import re
from pathlib import Path
from typing import Any

# The aliases these examples use; the alias file itself is not part of the shared data.
ALIASES = {"$CodeSystemLoinc": "http://loinc.org", "$LNC": "http://loinc.org"}
# Elements that are lists in FHIR JSON; FSH leaves the index off for the first entry.
LISTS = {"item", "answer", "extension", "identifier", "coding"}

RULE = re.compile(r"^(?P<indent> *)\* (?P<path>[^=]+?)(?: = (?P<value>.+))?$")
SEGMENT = re.compile(r"^(?P<name>[A-Za-z][\w-]*)(?:\[(?P<index>\d+)\])?$")
CODING = re.compile(r'^(?P<system>\$?[\w./:-]*)#(?P<code>[\w.-]+)(?: "(?P<display>[^"]*)")?$')


def _value(text: str) -> Any:
    text = text.strip()
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    if text in {"true", "false"}:
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    wrapped = re.fullmatch(r"(?:Canonical|Reference)\((.+)\)", text)
    if wrapped:
        return wrapped.group(1)
    coding = CODING.fullmatch(text)
    if coding:
        if not coding["system"]:
            return coding["code"]  # "#completed": a plain code
        result = {"system": ALIASES.get(coding["system"], coding["system"])}
        result["code"] = coding["code"]
        if coding["display"] is not None:
            result["display"] = coding["display"]
        return result
    raise ValueError(f"unsupported FSH value: {text}")


def _assign(resource: dict, path: list[str], value: Any) -> None:
    node: Any = resource
    for position, segment in enumerate(path):
        match = SEGMENT.fullmatch(segment)
        if not match:
            raise ValueError(f"unsupported FSH path segment: {segment}")
        name, last = match["name"], position == len(path) - 1
        if name in LISTS:
            index = int(match["index"] or 0)
            entries = node.setdefault(name, [])
            while len(entries) <= index:
                entries.append({})
            if last:
                entries[index] = value
            node = entries[index]
        elif last:
            node[name] = value
        else:
            node = node.setdefault(name, {})


def read_instance(path: Path, resource_type: str) -> dict[str, Any]:
    """The FSH instance in ``path`` as FHIR JSON (a dict)."""
    resource: dict[str, Any] = {"resourceType": resource_type}
    stack: list[tuple[int, list[str]]] = []  # (indent, full path) of the enclosing rules
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        rule = RULE.match(line)
        if rule is None:
            continue  # Instance:, InstanceOf:, Description: and other keywords
        indent = len(rule["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        full = (stack[-1][1] if stack else []) + rule["path"].strip().split(".")
        if rule["value"] is None:
            stack.append((indent, full))
        else:
            _assign(resource, full, _value(rule["value"]))
    return resource
