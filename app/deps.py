"""Request dependencies shared by the routers, as Annotated aliases created once."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from arq.connections import ArqRedis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.apikeys.service import Scope, allows, authenticate
from app.db import SessionDep
from app.errors import Forbidden, Unauthorized
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


def scoped(needed: Scope) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    async def require_scope(api_key: Annotated[ApiKey, Depends(require_api_key)]) -> ApiKey:
        if not allows(api_key.scopes, needed):
            raise Forbidden(f"This API key lacks the '{needed}' scope.", field="scope")
        return api_key

    return require_scope


async def get_arq(request: Request) -> ArqRedis:  # async: a sync dependency costs a thread hop
    arq: ArqRedis = request.app.state.arq
    return arq


# Reading needs `read`, changing needs `write`, managing keys and webhooks needs `admin`.
ApiKeyDep = Annotated[ApiKey, Depends(scoped(Scope.read))]
WriteKeyDep = Annotated[ApiKey, Depends(scoped(Scope.write))]
AdminKeyDep = Annotated[ApiKey, Depends(scoped(Scope.admin))]
ArqDep = Annotated[ArqRedis, Depends(get_arq)]
