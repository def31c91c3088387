"""Generated eval cases with known answers, and scorers, for measuring the sim's accuracy.

Deterministic (seeded) so the accuracy tests always see the same cases.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

NAMES = ["Tom", "Sara", "Liam", "Maria", "Ben", "Aisha", "Kenji", "Olga", "Pedro", "Nina"]
ITEMS = ["apples", "marbles", "stickers", "pencils", "cookies", "stamps", "books", "coins"]


def arithmetic_cases(n: int, seed: int = 7) -> list[tuple[str, float]]:
    rng = random.Random(seed)
    out: list[tuple[str, float]] = []
    for i in range(n):
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        a, b, c = rng.randint(20, 90), rng.randint(2, 19), rng.randint(2, 9)
        kind = i % 6
        if kind == 0:
            out.append(
                (
                    f"{name} has {a} {item}. {name} buys {b} more. How many {item} does "
                    f"{name} have now?",
                    a + b,
                )
            )
        elif kind == 1:
            out.append(
                (f"{name} had {a} {item} and gave away {b}. How many {item} are left?", a - b)
            )
        elif kind == 2:
            out.append((f"A box holds {c} {item}. How many {item} are in {b} boxes?", c * b))
        elif kind == 3:
            out.append(
                (
                    f"{name} shares {c * b} {item} equally among {c} friends. How many "
                    f"does each friend get?",
                    b,
                )
            )
        elif kind == 4:
            out.append(
                (
                    f"{name} has {a} {item}. {name} buys {b} more and then gives away {c}. "
                    f"How many {item} are left?",
                    a + b - c,
                )
            )
        else:
            out.append((f"What is {a} * {c} + {b}?", a * c + b))
    return out


def last_number(text: str | None) -> float | None:
    nums = re.findall(r"-?\d+(?:\.\d+)?", (text or "").replace(",", ""))
    return float(nums[-1]) if nums else None


VENDORS = [
    "Acme Corp",
    "Globex Ltd",
    "Initech LLC",
    "Umbrella Group",
    "Stark Industries",
    "Wayne Solutions",
    "Hooli Inc",
    "Vandelay Industries",
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def extraction_cases(n: int, seed: int = 11) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(n):
        vendor = rng.choice(VENDORS)
        number = f"INV-{rng.randint(1000, 99999)}"
        total = round(rng.uniform(10, 9000), 2)
        cur, sym = rng.choice([("USD", "$"), ("EUR", "€"), ("GBP", "£")])
        y, m, d = 2024 + rng.randint(0, 2), rng.randint(1, 12), rng.randint(1, 28)
        iso = f"{y}-{m:02d}-{d:02d}"
        if i % 2 == 0:
            text = (
                f"INVOICE\nFrom: {vendor}\nInvoice #: {number}\nBill to: Jane Roe\n"
                f"Total due: {sym}{total:,.2f}\nDue date: {iso}\n"
            )
        else:
            text = (
                f"Invoice {number} issued by: {vendor}; amount due: {total:.2f} {cur}, "
                f"payable by {MONTHS[m - 1]} {d}, {y}."
            )
        out.append(
            (
                text,
                {
                    "vendor": vendor,
                    "invoice_number": number,
                    "total": total,
                    "currency": cur,
                    "due_date": iso,
                },
            )
        )
    return out


INVOICE_SCHEMA = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string"},
        "invoice_number": {"type": "string"},
        "total": {"type": "number"},
        "currency": {"type": "string"},
        "due_date": {"type": "string"},
    },
    "required": ["vendor", "invoice_number", "total", "currency", "due_date"],
    "additionalProperties": False,
}


def extraction_correct(content: str | None, expected: dict[str, Any]) -> bool:
    try:
        got = json.loads(content or "")
    except ValueError:
        return False
    return isinstance(got, dict) and all(got.get(k) == v for k, v in expected.items())


LABELS = ["billing", "shipping", "returns", "account", "other"]
_MESSAGES = {
    "billing": [
        "I was charged twice for my subscription this month.",
        "Why is there an extra fee on my invoice?",
        "My credit card payment failed but I was billed anyway.",
    ],
    "shipping": [
        "My package still hasn't arrived after two weeks.",
        "The tracking number shows no updates for my delivery.",
        "When will my parcel be delivered?",
    ],
    "returns": [
        "I want to return the shoes, they are the wrong size.",
        "How do I send back a damaged item for a refund?",
        "Can I exchange this jacket for a different color?",
    ],
    "account": [
        "I forgot my password and can't log in.",
        "How do I change the email address on my account?",
        "My account is locked out after too many attempts.",
    ],
    "other": [
        "Do you have a physical store in Berlin?",
        "What are your thoughts on sustainability?",
        "Is the company hiring right now?",
    ],
}


def classification_cases(n: int, seed: int = 13) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        msg = rng.choice(_MESSAGES[label])
        out.append((f"{msg} (ticket {i})", label))
    return out
