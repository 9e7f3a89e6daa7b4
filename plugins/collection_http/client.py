"""Posting a hand-over case to an agency's HTTP API (see the package docstring)."""
from __future__ import annotations

from typing import Any

import requests


class AgencyRefused(RuntimeError):
    """The agency answered, but not with a success."""


class HttpAgency:
    def __init__(self, settings: dict[str, Any]):
        self.url = (settings.get("url") or "").strip()
        self.api_key = settings.get("api_key")
        try:
            self.timeout = float(settings.get("timeout") or 20)
        except (TypeError, ValueError):
            self.timeout = 20.0

    def hand_over(self, case: dict[str, Any]) -> str:
        if not self.url.startswith(("https://", "http://")):
            raise AgencyRefused("no agency URL configured (Settings → Plugins)")
        headers = {"Idempotency-Key": case["case_id"], "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        response = requests.post(self.url, json=case, headers=headers, timeout=self.timeout)
        if response.status_code >= 300:
            raise AgencyRefused(f"HTTP {response.status_code}: {response.text[:300]}")
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        return str(answer.get("reference") or answer.get("id") or case["case_id"])
