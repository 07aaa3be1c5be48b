"""Accounts: users with their passwords, and company API tokens. Below both the web (which logs
people in and checks tokens) and the jobs and CLI (which create users), so creating a user never
loads the web.

Passwords are hashed with argon2; an unknown email costs the same argon2 check as a wrong
password, so timing does not reveal who has an account. A token is shown once, when it is
created; only its SHA-256 is stored, so a leaked database does not leak usable tokens, and its
first characters (`prefix`) are kept to recognise it in lists.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import logins
from db.models import ApiToken, Company, User, utcnow

MIN_PASSWORD_LENGTH = 8  # for new passwords (NIST SP 800-63B's minimum)
TOKEN_PREFIX = "cp_"
PREFIX_LENGTH = 8
# last_used_at is written at most this often: a busy client must not cost a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)

hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures cost one argon2 check.
_DUMMY_HASH = hasher.hash("not-a-real-password")


class UserExists(ValueError):
    """create_user was given an email that already has an account."""


def hash_password(password: str) -> str:
    return hasher.hash(password)


def create_user(session: Session, company: Company, email: str, password: str, role: str = "viewer") -> User:
    email = email.strip().lower()
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserExists("a user with this email already exists")
    user = User(email=email, password_hash=hash_password(password), company=company, role=role)
    session.add(user)
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    try:
        hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def set_password(session: Session, user: User, password: str) -> int:
    """Give the user a new password and end all their logins; returns how many were live."""
    user.password_hash = hash_password(password)
    return logins.revoke_all(session, user.id)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, company_id: int, name: str, created_by: int | None) -> tuple[ApiToken, str]:
    """A new token for the company (flushed, not committed) and its value, which is never stored."""
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        company_id=company_id,
        name=name,
        prefix=value[:PREFIX_LENGTH],
        token_hash=hash_token(value),
        created_by=created_by,
    )
    session.add(token)
    session.flush()
    return token, value


def authenticate_token(session: Session, token: str) -> ApiToken | None:
    """The live (not revoked) token with this value, its last use noted."""
    found = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    )
    if found is None:
        return None
    now = utcnow()
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
        found.last_used_at = now
        session.commit()
    return found
