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
import re
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import logins
from db.models import ROLES, ApiToken, Company, User, utcnow
from records import ValidationError

MIN_PASSWORD_LENGTH = 8  # for new passwords (NIST SP 800-63B's minimum)
MAX_EMAIL = 254  # users.email
# Enough to tell a typo from an address; whether it receives mail is the inviting admin's business.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_TOKEN_NAME = 200  # api_tokens.name
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
    """Give the user a new password and end all their logins; returns how many were live. A
    one-time password they were invited with is then no longer theirs to change."""
    user.password_hash = hash_password(password)
    user.must_change_password = False
    return logins.revoke_all(session, user.id)


# --- users of a company, as its admins manage them ------------------------------------------


def company_users(session: Session, company_id: int) -> list[User]:
    return list(session.scalars(select(User).where(User.company_id == company_id).order_by(User.email)))


def company_user(session: Session, company_id: int, user_id: int | None) -> User:
    """The company's user with this id; ValidationError for any other id (another company's
    user looks exactly like one that does not exist)."""
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or user.company_id != company_id:
        raise ValidationError("user", "No such user in your company.")
    return user


def check_email(value: object) -> str:
    email = value.strip().lower() if isinstance(value, str) else ""
    if not email or len(email) > MAX_EMAIL or not EMAIL.fullmatch(email):
        raise ValidationError("email", "Enter an email address like name@example.com (at most 254 characters).")
    return email


def check_role(value: object) -> str:
    if value not in ROLES:
        raise ValidationError("role", f"The role must be one of {', '.join(ROLES)}.")
    return value


def invite_user(session: Session, company_id: int, email: object, role: object) -> tuple[User, str]:
    """A new user of the company with a one-time password (flushed, not committed), and that
    password, which is shown once and never stored: they must choose their own at first sign-in."""
    address, role = check_email(email), check_role(role)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise ValidationError("email", f"{address} already has an account.")
    password = secrets.token_urlsafe(12)
    user = create_user(session, session.get(Company, company_id), address, password, role)
    user.must_change_password = True
    session.flush()
    return user, password


def _other_admins(session: Session, user: User) -> int:
    """How many admins the user's company has besides them, its row locked first so that two
    admins demoting each other at once cannot both pass the count."""
    session.scalar(select(Company.id).where(Company.id == user.company_id).with_for_update())
    others = select(func.count()).where(User.company_id == user.company_id, User.role == "admin", User.id != user.id)
    return session.scalar(others)


def last_admin(session: Session, user: User) -> bool:
    return user.role == "admin" and _other_admins(session, user) == 0


def set_role(session: Session, company_id: int, user_id: int | None, role: object) -> User:
    """Make the company's user an admin or a viewer (flushed); never the company's last admin a
    viewer. It holds from their next request on (roles are read at every request)."""
    role = check_role(role)
    user = company_user(session, company_id, user_id)
    if role != "admin" and last_admin(session, user):
        raise ValidationError("role", f"{user.email} is the only admin: make another user an admin first.")
    user.role = role
    session.flush()
    return user


def remove_user(session: Session, company_id: int, user_id: int | None) -> str:
    """Delete the company's user (flushed), which ends every login of theirs; returns their email.
    The company's last admin stays."""
    user = company_user(session, company_id, user_id)
    if last_admin(session, user):
        raise ValidationError("user", f"{user.email} is the only admin: make another user an admin first.")
    email = user.email
    session.delete(user)
    session.flush()
    return email


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_token_name(value: object) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(name) <= MAX_TOKEN_NAME:
        raise ValidationError("name", f"name must be 1-{MAX_TOKEN_NAME} characters")
    return name


def create_token(session: Session, company_id: int, name: object, created_by: int | None) -> tuple[ApiToken, str]:
    """A new token for the company (flushed, not committed) and its value, which is never stored.
    A name that is not 1-200 characters (once trimmed) is a ValidationError."""
    name = check_token_name(name)
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


def company_tokens(session: Session, company_id: int) -> list[ApiToken]:
    """The company's tokens, revoked ones included, oldest first."""
    return list(session.scalars(select(ApiToken).where(ApiToken.company_id == company_id).order_by(ApiToken.id)))


def company_token(session: Session, company_id: int, token_id: int | None) -> ApiToken | None:
    """The company's token with this id; None for any other (another company's included)."""
    token = session.get(ApiToken, token_id) if token_id is not None else None
    return token if token is not None and token.company_id == company_id else None


def revoke_token(session: Session, token: ApiToken) -> bool:
    """Revoke the token at once (flushed); whether it was live. Revoking twice changes nothing."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    session.flush()
    return True


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
