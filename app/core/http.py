"""Outbound HTTP for deliveries that repeat to the same hosts (webhooks).

A plain ``requests`` session reads the environment's proxy and CA settings (HTTPS_PROXY,
REQUESTS_CA_BUNDLE, ...) again on every request, which was a good part of a webhook delivery's
time (issue 18). ``EnvironmentSession`` reads them once per origin and keeps its connections
alive for the batch.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter


class EnvironmentSession:
    def __init__(self) -> None:
        self._session = requests.Session()
        self._session.trust_env = False  # given explicitly by post(), read once per origin
        self._environment: dict[str, dict] = {}

    def mount(self, prefix: str, adapter: BaseAdapter) -> None:
        self._session.mount(prefix, adapter)

    def post(self, url: str, **kwargs) -> requests.Response:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._environment:
            with requests.Session() as reader:  # trust_env: what a plain session would use
                merged = reader.merge_environment_settings(url, {}, None, None, None)
            self._environment[origin] = {name: merged[name]
                                         for name in ("proxies", "verify", "cert")}
        return self._session.post(url, **{**self._environment[origin], **kwargs})

    def close(self) -> None:
        self._session.close()
