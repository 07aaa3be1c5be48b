"""Platform credentials, encrypted at rest with Fernet. The first key encrypts, every key
decrypts, so CREDENTIALS_KEY can be rotated by prepending a new key."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class CredentialsError(Exception):
    """Stored credentials cannot be decrypted with the configured keys."""


class CredentialBox:
    def __init__(self, keys: Sequence[str]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def seal(self, secrets: Mapping[str, str]) -> bytes:
        return self._fernet.encrypt(json.dumps(dict(secrets), sort_keys=True).encode())

    def open(self, token: bytes | None) -> dict[str, str]:
        if not token:
            return {}
        try:
            return json.loads(self._fernet.decrypt(bytes(token)))
        except InvalidToken:
            raise CredentialsError("stored credentials cannot be decrypted with CREDENTIALS_KEY") from None
