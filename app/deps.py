"""Request dependencies shared by the routers, as Annotated aliases created once."""

from typing import Annotated

from arq.connections import ArqRedis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.apikeys.service import authenticate
from app.db import SessionDep
from app.errors import Unauthorized
from app.models import ApiKey

bearer = HTTPBearer(auto_error=False, description="An API key from `firstring apikey create NAME`.")


async def require_api_key(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(
            "Send an API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return await authenticate(session, plaintext=credentials.credentials)


def get_arq(request: Request) -> ArqRedis:
    arq: ArqRedis = request.app.state.arq
    return arq


ApiKeyDep = Annotated[ApiKey, Depends(require_api_key)]
ArqDep = Annotated[ArqRedis, Depends(get_arq)]
