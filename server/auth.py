"""Data rights: which requests need a token, and checking it.

Public requests need nothing. A request needs a JWT (HS256, signed with
``ODA_JWT_SECRET``, unexpired) when it asks for ``integral_data_rights=all-private`` or
would use more than ``ODA_PUBLIC_MAX_SCW`` ScWs (default 50, the public ODA service's
limit). The token comes as the ``token`` parameter (what ``oda_api`` sends) or an
``Authorization: Bearer`` header. Refusals are HTTP 403 with a message saying what is
needed.

Roles: the token's ``roles`` claim (a list, or ODA's comma-separated string) must hold

=====================================  ==================================================
request                                role needed (any of)
=====================================  ==================================================
``integral_data_rights=all-private``   ``integral-private``
more than ``ODA_PUBLIC_MAX_SCW`` ScWs  ``integral-private``, ``unige-hpc-full``
=====================================  ==================================================

Private products are stored under ids salted with the deployment secret
(:meth:`core.query.Query.product_id`), and every route that reads a product or job by id
(``/api/v1/products/<id>``, ``/api/v1/jobs/<id>``, ``/products/<id>/...``) asks for the
same token again (:func:`check_resource`); ``/run_analysis`` polls re-send the query, so
:func:`authorize` checks them.

=======================  =====================================================  =========
Variable                 Meaning                                                Default
=======================  =====================================================  =========
``ODA_JWT_SECRET``       HS256 secret of accepted tokens; unset: private data     unset
                         and large requests are refused
``ODA_PUBLIC_MAX_SCW``   most ScWs a request without a token may use              ``50``
=======================  =====================================================  =========
"""

from __future__ import annotations

import os

from core.errors import QueryError
from core.query import Query

from .common import ApiError

__all__ = ["check_rights", "authorize", "check_resource", "resource_rights", "public_max_scw", "make_token",
           "token_from_request", "ROLE_PRIVATE", "ROLES_LARGE"]

RIGHTS = ("public", "all-private")
ROLE_PRIVATE = "integral-private"
ROLES_LARGE = ("integral-private", "unige-hpc-full")


def public_max_scw() -> int:
    raw = os.environ.get("ODA_PUBLIC_MAX_SCW", "").strip()
    try:
        return max(0, int(float(raw))) if raw else 50
    except ValueError:
        return 50


def token_from_request(req, values: dict | None = None) -> str | None:
    """The JWT from ``Authorization: Bearer``, else from the ``token`` field."""
    auth = req.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    tok = (values or {}).get("token")
    if isinstance(tok, str) and tok.strip() not in ("", "\x00", "None"):
        return tok.strip()
    return None


def _n_scw(query: Query) -> int:
    if query.scw_list:
        return len(query.scw_list)
    if query.max_pointings <= public_max_scw():
        return query.max_pointings
    from core.archive.store import get_archive

    try:
        return len(get_archive().select(query).ids)
    except QueryError:
        return 0  # nothing selected: the job itself reports why


def _verify(token: str) -> dict:
    import jwt

    secret = os.environ.get("ODA_JWT_SECRET", "")
    if not secret:
        raise ApiError(403, "this server has no token secret configured (ODA_JWT_SECRET): "
                            "it serves public data of at most %d ScWs per request" % public_max_scw(), "token")
    try:
        return jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.ExpiredSignatureError:
        raise ApiError(403, "the token has expired; get a new one", "token") from None
    except jwt.InvalidTokenError as exc:
        raise ApiError(403, f"the token is not valid ({exc.__class__.__name__})", "token") from None


def token_roles(claims: dict) -> set[str]:
    roles = claims.get("roles", [])
    if isinstance(roles, str):
        roles = roles.split(",")
    if not isinstance(roles, (list, tuple)):
        return set()
    return {str(r).strip() for r in roles if str(r).strip()}


def _require_roles(claims: dict, needs: list[tuple[str, tuple[str, ...]]]) -> dict:
    have = token_roles(claims)
    for what, any_of in needs:
        if not have.intersection(any_of):
            raise ApiError(403, f"the token's roles do not allow {what} (needs the role {' or '.join(any_of)})",
                           "token")
    return claims


def authorize(query: Query, rights: str | None, token: str | None) -> Query:
    """:func:`check_rights`, then the query carrying its data rights (its id depends on them)."""
    import dataclasses

    check_rights(query, rights, token)
    rights = (rights or "public").strip().lower()
    if rights == "all-private" and query.integral_data_rights != rights:
        query = dataclasses.replace(query, integral_data_rights=rights)
    return query


def resource_rights(resource_id: str) -> str:
    """Data rights of a stored product or job (``public`` when unknown)."""
    from core.products.store import KEY_RE, get_store

    from .common import product_cache

    if not isinstance(resource_id, str) or not KEY_RE.fullmatch(resource_id):
        return "public"
    res = product_cache.peek(resource_id)
    if res is not None:
        return res.query.integral_data_rights
    meta = get_store().meta(resource_id, verify=False)
    if isinstance(meta, dict) and isinstance(meta.get("query"), dict):
        return str(meta["query"].get("integral_data_rights", "public"))
    from .jobs import get_runner

    rec = get_runner().jobs.read(resource_id)
    if rec is not None:
        return str(rec["query"].get("integral_data_rights", "public"))
    return "public"


def check_resource(resource_id: str, req) -> None:
    """Raise ApiError 403 unless the request may read the product or job ``resource_id``."""
    if resource_rights(resource_id) == "public":
        return
    token = token_from_request(req, {"token": req.args.get("token")})
    if token is None:
        raise ApiError(403, "this product is private (integral_data_rights=all-private): pass the token that "
                            "made it as token=... or an 'Authorization: Bearer' header", "token")
    _require_roles(_verify(token), [("private data", (ROLE_PRIVATE,))])


def check_rights(query: Query, rights: str | None, token: str | None) -> dict | None:
    """Raise :class:`ApiError` 400/403 unless the request may be served; return the claims."""
    rights = (rights or "public").strip().lower()
    if rights in ("", "\x00", "none"):
        rights = "public"
    if rights not in RIGHTS:
        raise ApiError(400, f"unknown data rights {rights!r}", "integral_data_rights", ", ".join(RIGHTS))
    if query.integral_data_rights != "public":
        rights = query.integral_data_rights
    reasons, needs = [], []
    if rights == "all-private":
        reasons.append("integral_data_rights=all-private")
        needs.append(("private data", (ROLE_PRIVATE,)))
    n = _n_scw(query)
    limit = public_max_scw()
    if n > limit:
        reasons.append(f"{n} ScWs (public requests may use at most {limit})")
        needs.append((f"more than {limit} ScWs", ROLES_LARGE))
    if not reasons:
        return None
    if token is None:
        raise ApiError(403, f"a token is required for {' and '.join(reasons)}: pass token=... or an "
                            f"'Authorization: Bearer' header", "token")
    return _require_roles(_verify(token), needs)


def make_token(secret: str, *, sub: str = "user", roles=("integral-private",), lifetime_s: float = 3600.0,
               email: str | None = None) -> str:
    """A token this service accepts (for operators and tests)."""
    import time

    import jwt

    claims = {"sub": sub, "roles": list(roles), "exp": int(time.time() + lifetime_s)}
    if email:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm="HS256")
