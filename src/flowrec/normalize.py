"""Normalization of cell outputs before they are compared.

Parts of an output that change on every run without meaning anything
(memory addresses, the kernel's temporary file names, timestamps, timings,
progress bars, widget model ids) are replaced with fixed placeholders, and
consecutive stream chunks are joined. Each rule has a name so reports can
list which rules changed something.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import xxhash



@dataclass(frozen=True)
class Rule:
    """A named text substitution applied to every text output."""

    name: str
    pattern: re.Pattern[str]
    replacement: str


RULES: tuple[Rule, ...] = (
    Rule("memory address", re.compile(r"\b0x[0-9a-fA-F]{6,16}\b"), "0x<address>"),
    Rule(
        "kernel temporary path",
        re.compile(r"(?:/tmp|/var/folders/[\w/]+?|[A-Za-z]:\\[^\s'\"]*?Temp)"
                   r"[/\\]ipykernel_\d+[/\\]\d+\.py"),
        "<kernel temporary file>",
    ),
    Rule(
        "timestamp",
        re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "<timestamp>",
    ),
    Rule(
        "duration",
        re.compile(r"(?P<label>\b(?:Wall time|CPU times|user|sys|total|took|elapsed)\b:?\s*)"
                   # IPython writes microseconds with the Greek mu, others with the micro sign.
                   # IPython prints 999.7 ns as "1e+03 ns", and long runs as "2min 3s".
                   r"\d+(?:\.\d+)?(?:e[+-]?\d+)?\s*(?:ns|\u00b5s|\u03bcs|us|ms|s|min|h)(?!\w)"
                   r"(?:\s+\d+(?:\.\d+)?\s*(?:min|s)(?!\w))*"),
        r"\g<label><duration>",
    ),
    Rule(
        "SVG element id",
        # matplotlib's SVG output names markers, clip paths and glyphs with
        # random ids, and refers to them with href and url(#...).
        re.compile(r'(?<=id=")[mp][0-9a-f]{8,12}(?=")|(?<=href="#)[mp][0-9a-f]{8,12}(?=")'
                   r"|(?<=url\(#)[mp][0-9a-f]{8,12}(?=\))"),
        "<svg id>",
    ),
    Rule(
        "pandas Styler id",
        # Styler names its table and cells T_<5 hex digits>_..., new on every render.
        re.compile(r"\bT_[0-9a-f]{5}(?=[_\"' ])"),
        "T_<id>",
    ),
    Rule(
        "NumPy 2 scalar repr",
        # NumPy 2 shows np.float64(1.5) where NumPy 1 showed 1.5.
        re.compile(r"\bnp\.(?:float|int|uint|complex|bool|str)_?\d*\(([^()]*)\)"),
        r"\1",
    ),
    Rule(
        "progress bar",
        re.compile(r"^.*\d+%\|[^|\n]*\|.*$", re.MULTILINE),
        "<progress bar>",
    ),
)

_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


FLOWREC_MIME_PREFIX = "application/vnd.flowrec."


def normalize_text(text: str, applied: set[str], extra: tuple[Rule, ...] = ()) -> str:
    """Apply every rule to ``text``, adding the names of rules that matched to ``applied``."""
    for rule in (*RULES, *extra):
        text, count = rule.pattern.subn(rule.replacement, text)
        if count:
            applied.add(rule.name)
    return text


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def normalize_outputs(outputs: list[dict[str, Any]], applied: set[str],
                      extra: tuple[Rule, ...] = ()) -> list[dict[str, Any]]:
    """Return the cell's outputs in a comparable form, without flowrec's own records.

    Errors keep their name and value but not the traceback, which contains
    file paths and terminal colours.
    """
    normalized: list[dict[str, Any]] = []
    for output in outputs:
        output_type = output.get("output_type")
        if output_type == "stream":
            text = normalize_text(_text(output.get("text", "")), applied, extra)
            name = output.get("name", "stdout")
            if normalized and normalized[-1].get("stream") == name:
                normalized[-1]["text"] += text
                applied.add("stream chunks joined")
            else:
                normalized.append({"stream": name, "text": text})
        elif output_type in ("display_data", "execute_result"):
            if any(mime.startswith(FLOWREC_MIME_PREFIX) for mime in output.get("data", {})):
                continue  # flowrec's own records and %flow listings: timings by nature
            data = {}
            for mime, value in sorted(output.get("data", {}).items()):
                if mime == _WIDGET_MIME and isinstance(value, dict):
                    value = {**value, "model_id": "<widget>"}
                    applied.add("widget model id")
                elif isinstance(value, (str, list)):
                    value = normalize_text(_text(value), applied, extra)
                data[mime] = value
            if data:
                normalized.append({"display": data})
        elif output_type == "error":
            normalized.append({
                "error": output.get("ename", ""),
                "value": normalize_text(str(output.get("evalue", "")), applied, extra),
            })
    return normalized


def user_rule(pattern: str, replacement: str = "<normalized>", origin: str = "") -> Rule:
    """Build a rule from a user's regular expression; raise ValueError naming the problem."""
    try:
        compiled = re.compile(pattern, re.MULTILINE)
    except re.error as error:
        raise ValueError(f"invalid normalization pattern {pattern!r}{origin}: {error}") from None
    if compiled.match(""):
        raise ValueError(f"normalization pattern {pattern!r}{origin} matches empty text; "
                         "it would insert its replacement everywhere")
    return Rule(f"user rule {pattern}", compiled, replacement)


def notebook_rules(metadata: dict[str, Any]) -> tuple[Rule, ...]:
    """Read the rules a notebook declares in ``metadata.flowrec.normalize``.

    Each is ``{"pattern": REGEX, "replacement": TEXT}``; the replacement
    defaults to ``<normalized>``.
    """
    declared = metadata.get("flowrec", {}).get("normalize", []) if isinstance(
        metadata.get("flowrec"), dict) else []
    if not isinstance(declared, list):
        raise ValueError("metadata.flowrec.normalize must be a list of "
                         '{"pattern": ..., "replacement": ...} objects')
    rules = []
    for item in declared:
        if not isinstance(item, dict) or not isinstance(item.get("pattern"), str):
            raise ValueError(f"invalid entry {item!r} in metadata.flowrec.normalize: "
                             'give {"pattern": REGEX, "replacement": TEXT}')
        rules.append(user_rule(item["pattern"], str(item.get("replacement", "<normalized>")),
                               " in the notebook metadata"))
    return tuple(rules)


def outputs_digest(normalized: list[dict[str, Any]]) -> str:
    """Return one digest of normalized outputs."""
    import json

    encoded = json.dumps(normalized, sort_keys=True, ensure_ascii=False, default=str)
    return xxhash.xxh3_128_hexdigest(encoded.encode("utf-8", "surrogatepass"))
