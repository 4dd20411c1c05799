"""Bearer JWT authentication (HS256, PyJWT): the same check the other peers make."""

import jwt
from django.conf import settings
from rest_framework import authentication, exceptions


class TokenUser:
    """The caller named by a verified token; no database lookup."""

    is_authenticated = True

    def __init__(self, user_id: str):
        self.id = user_id


class JWTAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer" or len(header) != 2:
            return None
        try:
            claims = jwt.decode(header[1], settings.BENCH_JWT_SECRET, algorithms=["HS256"])
        except jwt.InvalidTokenError as exc:
            raise exceptions.AuthenticationFailed("invalid token") from exc
        return TokenUser(claims["sub"]), claims

    def authenticate_header(self, request):
        return "Bearer"
