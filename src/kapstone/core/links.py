"""Links that carry a secret (a check-in, a home-practice page, a calendar feed).

The database keeps only a SHA-256 of a link's token. Tokens derived with ``derived_token`` are
an HMAC of a stored nonce under the server's secret key, each purpose under its own label, so
the same link can be rebuilt for a reminder while a copy of the database opens nothing and a
token for one purpose never opens another.
"""

import base64
import hashlib
import hmac

from django.conf import settings


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def derived_token(purpose: str, nonce: str) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"kapstone.{purpose}:{nonce}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
