"""Store URIs as they may be shown: the schemes that name a database server, and every password hidden."""

from __future__ import annotations

import re
from typing import Any

DATABASE_SCHEMES = ("postgresql", "mysql", "mssql")


USERINFO_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):([^@/\s]*)@")


def hide_password(uri: str) -> str:
    """`uri` with the password of its user part (scheme://user:PASSWORD@host) shown as ***, for every scheme:
    database URLs and an MLflow server behind basic auth alike."""
    return USERINFO_PASSWORD.sub(r"\1:***@", uri) if isinstance(uri, str) else uri


def hide_passwords(value: Any) -> Any:
    """A recorded config (nested dicts, lists, strings) with every URI's password hidden: what runs record."""
    if isinstance(value, dict):
        return {k: hide_passwords(v) for k, v in value.items()}
    if isinstance(value, list):
        return [hide_passwords(v) for v in value]
    return hide_password(value) if isinstance(value, str) else value
