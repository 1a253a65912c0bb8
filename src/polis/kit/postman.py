"""A Postman v2.1 collection built from the OpenAPI schema.

The only converter that is kept up is a Node.js tool; the mapping we need (one request per
operation, grouped by tag, path parameters as variables) is small enough to own.
"""

from __future__ import annotations

import re
from typing import Any

_METHODS = ("get", "post", "put", "patch", "delete")


def _postman_path(path: str) -> list[str]:
    return [re.sub(r"\{(\w+)\}", r":\1", part) for part in path.strip("/").split("/") if part]


def build_collection(openapi: dict[str, Any], base_url: str = "{{baseUrl}}") -> dict[str, Any]:
    folders: dict[str, list[dict[str, Any]]] = {}
    for path, operations in sorted(openapi.get("paths", {}).items()):
        for method in _METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            segments = _postman_path(path)
            params = operation.get("parameters", [])
            request: dict[str, Any] = {
                "method": method.upper(),
                "header": [
                    {"key": p["name"], "value": "", "disabled": not p.get("required", False)}
                    for p in params
                    if p.get("in") == "header"
                ],
                "url": {
                    "raw": base_url + "/" + "/".join(segments),
                    "host": [base_url],
                    "path": segments,
                    "variable": [
                        {"key": p["name"], "value": ""} for p in params if p.get("in") == "path"
                    ],
                    "query": [
                        {"key": p["name"], "value": "", "disabled": not p.get("required", False)}
                        for p in params
                        if p.get("in") == "query"
                    ],
                },
                "description": operation.get("description") or operation.get("summary", ""),
            }
            if "requestBody" in operation:
                request["header"].append({"key": "Content-Type", "value": "application/json"})
                request["body"] = {
                    "mode": "raw",
                    "raw": "{}",
                    "options": {"raw": {"language": "json"}},
                }
            tag = (operation.get("tags") or ["default"])[0]
            folders.setdefault(tag, []).append(
                {"name": operation.get("summary") or f"{method.upper()} {path}", "request": request}
            )
    info = openapi.get("info", {})
    return {
        "info": {
            "name": info.get("title", "API"),
            "description": info.get("description", ""),
            "version": info.get("version", ""),
            "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
        },
        "variable": [{"key": "baseUrl", "value": "http://127.0.0.1:8000"}],
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{accessToken}}"}]},
        "item": [{"name": tag, "item": items} for tag, items in sorted(folders.items())],
    }
