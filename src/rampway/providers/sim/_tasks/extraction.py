"""Field extraction into JSON (invoice-like text → vendor, invoice_number, total, …).

Keys come from the response_format JSON schema when given, else from field names the prompt
mentions, else the invoice defaults. Each key is found by a labelled pattern ("Total due:
$1,234.56", "Invoice #INV-3321", "due by May 1, 2024"); dates come out ISO (YYYY-MM-DD) and
amounts as numbers. A case is right or wrong as a whole; a wrong case garbles one or two
fields. Separately, the JSON itself is well-formed with the model's `json_adherence`, raised by
a schema (strict: 10x fewer failures, non-strict/json_object: 2x) and by examples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from rampway.providers.sim._style import Answer, render
from rampway.providers.sim._tasks._context import Ctx, TaskResult

DEFAULT_FIELDS = ("vendor", "invoice_number", "total", "currency", "due_date")
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DATE = (r"(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{4}"
         r"|[A-Z][a-z]{2,8}\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}"
         r"|\d{1,2}(?:st|nd|rd|th)? [A-Z][a-z]{2,8}\.?,? \d{4})")
_COMPANY = re.compile(r"\b([A-Z][\w&'-]*(?:\s+[A-Z][\w&'-]*)*\s+(?:Inc|LLC|Ltd|GmbH|Corp|Co"
                      r"|Company|Corporation|Group|Labs|Industries|Solutions|Systems|AG|plc|SA"
                      r"|BV)\b\.?)")
_PATTERNS: dict[str, re.Pattern[str]] = {
    "vendor": re.compile(r"(?:^|\n|\b)(?:from|vendor|seller|supplier|issued by|billed by"
                         r"|company|merchant)\s*[:\-]\s*([^\n,;]+?)\s*(?=\n|$|,|;)", re.I),
    "invoice_number": re.compile(r"invoice\s*(?:number|no\.?|num|#|id)?\s*[:#]?\s*#?\s*"
                                 r"((?=[A-Za-z\-/]*\d)[A-Za-z0-9][A-Za-z0-9\-/]{2,})", re.I),
    "total": re.compile(r"(?:total(?: due| amount)?|amount due|balance due|grand total|amount)"
                        r"\s*[:\-]?\s*(?:of\s*)?([$€£]?)\s*(\d[\d,]*(?:\.\d{1,2})?)\s*"
                        r"(USD|EUR|GBP|JPY|CAD|AUD|CHF)?", re.I),
    "due_date": re.compile(r"(?:due(?: date)?|payable by|pay by|due by|due on)\s*[:\-]?\s*"
                           r"(?:on|by)?\s*" + _DATE, re.I),
    "invoice_date": re.compile(r"(?:invoice date|issued(?: on)?|(?<!due )date)\s*[:\-]?\s*"
                               + _DATE, re.I),
    "customer": re.compile(r"(?:bill(?:ed)? to|customer|client|sold to)\s*[:\-]\s*([^\n,;]+?)"
                           r"\s*(?=\n|$|,|;)", re.I),
    "email": re.compile(r"([\w.+-]+@[\w-]+\.[\w.-]+)"),
    "phone": re.compile(r"(\+?\d[\d\s().-]{7,}\d)"),
}
_ALIASES: dict[str, tuple[str, ...]] = {
    "vendor": ("vendor", "seller", "supplier", "company", "merchant", "issuer", "from"),
    "invoice_number": ("invoicenumber", "invoiceno", "invoiceid", "invoice", "number"),
    "total": ("total", "amount", "amountdue", "totalamount", "grandtotal", "balance"),
    "currency": ("currency",),
    "due_date": ("duedate", "due", "paymentdue", "dueby"),
    "invoice_date": ("invoicedate", "date", "issuedate", "issued"),
    "customer": ("customer", "client", "billto", "buyer"),
    "email": ("email", "emailaddress"),
    "phone": ("phone", "telephone", "phonenumber"),
}
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
_EXTRACT = re.compile(r"\bextract|\bparse\b|pull out|\bfields?\b", re.I)


def canonical(key: str) -> str | None:
    """'invoiceNumber', 'invoice_no' → 'invoice_number'; unknown keys → None."""
    norm = re.sub(r"[^a-z]", "", key.lower())
    for canon, aliases in _ALIASES.items():
        if norm in aliases:
            return canon
    return None


def iso_date(raw: str) -> str | None:
    """'May 1, 2024' / '1 May 2024' / '05/01/2024' (US) / '2024-5-1' → '2024-05-01'."""
    raw = re.sub(r"(\d)(st|nd|rd|th)", r"\1", raw.replace(",", " ").replace(".", " "))
    parts = raw.split()
    try:
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", raw.strip()):
            y, m, d = (int(x) for x in raw.strip().split("-"))
        elif re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", raw.strip()):
            m, d, y = (int(x) for x in raw.strip().split("/"))
        elif parts and parts[0].isdigit():
            d, m, y = int(parts[0]), _MONTHS[parts[1][:3].lower()], int(parts[2])
        else:
            m, d, y = _MONTHS[parts[0][:3].lower()], int(parts[1]), int(parts[2])
        return date(y, m, d).isoformat()
    except (KeyError, ValueError, IndexError):
        return None


def _find(text: str, canon: str) -> Any:
    if canon == "vendor":
        labelled = _PATTERNS["vendor"].search(text)
        company = _COMPANY.search(text)
        found = (labelled.group(1) if labelled else None) or (
            company.group(1) if company else None)
        return found.strip().rstrip(".") if found else None
    if canon == "total":
        m = _PATTERNS["total"].search(text)
        return float(m.group(2).replace(",", "")) if m else None
    if canon == "currency":
        m = _PATTERNS["total"].search(text)
        if m and (m.group(3) or m.group(1)):
            return (m.group(3) or _SYMBOLS[m.group(1)]).upper()
        code = re.search(r"\b(USD|EUR|GBP|JPY|CAD|AUD|CHF)\b", text)
        return code.group(1) if code else None
    if canon in ("due_date", "invoice_date"):
        m = _PATTERNS[canon].search(text)
        return iso_date(m.group(1)) if m else None
    m = _PATTERNS[canon].search(text)
    return m.group(1).strip() if m else None


def _find_generic(text: str, key: str) -> str | None:
    label = r"[\s_-]*".join(re.escape(p) for p in re.findall(r"[A-Za-z]+|\d+", key) if p)
    m = re.search(label + r"\s*[:#=-]\s*([^\n,;]+)", text, re.I)
    return m.group(1).strip() if m else None


def source_text(ctx: Ctx) -> str:
    quoted = re.search(r'"""(.+?)"""|```(?:\w*\n)?(.+?)```', ctx.features.user, re.S)
    if quoted:
        return quoted.group(1) or quoted.group(2)
    return ctx.features.user


def requested_keys(ctx: Ctx) -> list[str]:
    schema = ctx.features.schema
    if schema and isinstance(schema.get("properties"), dict) and schema["properties"]:
        return list(schema["properties"])
    instructions = f"{ctx.features.system}\n{ctx.features.user}"
    named = re.findall(r"[`\"']([a-z][a-z0-9_]{1,40})[`\"']", instructions)
    keys = [k for k in dict.fromkeys(named) if canonical(k) or "_" in k]
    return keys or list(DEFAULT_FIELDS)


def _coerce(value: Any, prop: dict[str, Any]) -> Any:
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if value is None:
        return [] if kind == "array" else None
    if kind in ("number", "integer"):
        try:
            number = float(str(value).replace(",", ""))
        except ValueError:
            return None
        return round(number) if kind == "integer" else number
    if kind == "string":
        return fmt_amount(value) if isinstance(value, float) else str(value)
    if isinstance(prop.get("enum"), list) and value not in prop["enum"]:
        return prop["enum"][0]
    return value


def fmt_amount(x: float) -> str:
    return f"{x:.2f}"


def extract(text: str, keys: list[str], schema: dict[str, Any] | None) -> dict[str, Any]:
    """The right answer: every requested key with its value from `text` (None if absent)."""
    props = (schema or {}).get("properties") or {}
    out: dict[str, Any] = {}
    for key in keys:
        canon = canonical(key)
        value = _find(text, canon) if canon else _find_generic(text, key)
        out[key] = _coerce(value, props.get(key) or {})
    return out


def _garble(value: Any, rng_choice: Callable[[list[Any]], Any]) -> Any:
    if isinstance(value, float):
        return rng_choice([round(value * 10, 2), round(value / 10, 2), round(value + 100, 2)])
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        y, m, d = value.split("-")
        return f"{y}-{d}-{m}" if int(d) <= 12 and d != m else f"{m}/{d}/{y}"
    if isinstance(value, str) and len(value) > 3:
        return rng_choice([value[:-1], value.split()[0] if " " in value else value[1:]])
    if isinstance(value, str):
        return "USD" if value != "USD" else "EUR"
    return None


def _json_text(obj: dict[str, Any], ctx: Ctx, required: list[str]) -> tuple[str, bool]:
    """Serialize, failing to adhere with the model's rate (fences, trailing comma, lost key)."""
    f = ctx.features
    fail = 1.0 - ctx.profile.json_adherence
    if f.schema is not None:
        fail *= 0.1 if f.schema_strict else 0.5
    elif (ctx.request.response_format or {}).get("type") == "json_object":
        fail *= 0.5
    if f.few_shot:
        fail *= 0.5
    if ctx.case_rng.random() >= fail:
        return json.dumps(obj), True
    mode = ctx.case_rng.randrange(3)
    if mode == 0:
        return "Here is the extracted data:\n```json\n" + json.dumps(obj, indent=2) + "\n```", False
    if mode == 1:
        return json.dumps(obj)[:-1] + ",}", False
    victim = (required or list(obj))[-1] if obj else None
    return json.dumps({k: v for k, v in obj.items() if k != victim}), False


def solve(ctx: Ctx) -> TaskResult:
    keys = requested_keys(ctx)
    schema = ctx.features.schema
    truth = extract(source_text(ctx), keys, schema)
    correct = ctx.draw_correct("extraction")
    result = dict(truth)
    if not correct:
        present = [k for k, v in truth.items() if v not in (None, [])] or list(truth)
        for key in ctx.case_rng.sample(present, k=min(len(present), 1 + ctx.case_rng.randrange(2))):
            result[key] = _garble(result[key], ctx.case_rng.choice)
    if ctx.features.json_requested:
        required = list((schema or {}).get("required") or [])
        text, _ = _json_text(result, ctx, required)
        return TaskResult("extraction", content=text, correct=correct)
    lines = [f"{k.replace('_', ' ').capitalize()}: {v}" for k, v in result.items()]
    answer = Answer(core="\n".join(lines), sentence="\n".join(lines),
                    extras=["Let me know if you need these fields in another format."])
    return TaskResult("extraction", content=render(answer, ctx.features, ctx.profile,
                                                   ctx.style_rng), correct=correct)


def is_extraction(ctx: Ctx) -> bool:
    f = ctx.features
    instructions = f"{f.system}\n{f.user}"
    if f.schema is not None or (ctx.request.response_format or {}).get("type") == "json_object":
        return True
    return bool(_EXTRACT.search(instructions)) and (
        f.json_requested or bool(re.search(r"invoice|receipt|bill", instructions, re.I)))


__all__ = ["DEFAULT_FIELDS", "canonical", "extract", "is_extraction", "iso_date", "solve"]
