"""Flag definitions shared by the OpenFeature tests."""

from __future__ import annotations

from typing import Any

FLAGS: dict[str, Any] = {
    "segments": {"beta": {"ids": ["beta-user"]}},
    "flags": {
        "dark-mode": {"type": "bool", "default": False,
                      "rules": [{"condition": {"plan": "pro"}, "value": True,
                                 "variant": "pro-on"}]},
        "greeting": {"type": "string", "default": "hello",
                     "rules": [{"segment": "beta", "value": "hi beta"}]},
        "limit": {"type": "number", "default": 10,
                  "rules": [{"condition": {"country": {"$in": ["DE", "FR"]}}, "value": 20}]},
        "ratio": {"type": "number", "default": 0.5},
        "layout": {"type": "json", "default": {"columns": 2, "tags": ["a"]}},
        "experiment": {"type": "string", "default": "control",
                       "rules": [{"variations": [{"name": "a", "value": "A", "weight": 50},
                                                 {"name": "b", "value": "B", "weight": 50}]}]},
    },
}
