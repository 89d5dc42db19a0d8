"""Who a contact-center agent is: a JWT issued for that agent, verified against the deployment's keys.

The token's `sub` is the agent id; `exp`, `iat` and `aud` (this service) are required, `iss` too when the
deployment names its issuer. Keys come from the environment: HS256 secrets (PRIORAUTH_AGENT_JWT_SECRET) and/or
the public keys of the contact center's identity provider (PRIORAUTH_AGENT_JWT_PUBLIC_KEY, or
PRIORAUTH_AGENT_JWT_PUBLIC_KEY_FILE: PEM or JWKS). Each key is pinned to its own algorithm, so `alg: none` and
an HS256 token "signed" with a public key never verify. A deny-list (PRIORAUTH_AGENT_REVOKED and/or
PRIORAUTH_AGENT_REVOKED_FILE, entries `jti:<token id>` or `agent:<agent id>`) revokes tokens before they expire.
A local run with no key gets a generated HS256 secret in $PRIORAUTH_RUN_DIR/agent-jwt-secret (`python -m
priorauth agent-token AGENT_ID` signs with it); production refuses to start without a configured key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from priorauth.agent_proof import AgentAuthConfigError, is_production, local_secret, run_dir, split_secrets

logger = logging.getLogger(__name__)

SECRET_ENV = "PRIORAUTH_AGENT_JWT_SECRET"
PUBLIC_KEY_ENV = "PRIORAUTH_AGENT_JWT_PUBLIC_KEY"
PUBLIC_KEY_FILE_ENV = "PRIORAUTH_AGENT_JWT_PUBLIC_KEY_FILE"
AUDIENCE_ENV = "PRIORAUTH_AGENT_JWT_AUDIENCE"
ISSUER_ENV = "PRIORAUTH_AGENT_JWT_ISSUER"
MAX_MINUTES_ENV = "PRIORAUTH_AGENT_JWT_MAX_MINUTES"
REVOKED_ENV = "PRIORAUTH_AGENT_REVOKED"
REVOKED_FILE_ENV = "PRIORAUTH_AGENT_REVOKED_FILE"
SECRET_FILE = "agent-jwt-secret"
DEFAULT_AUDIENCE = "priorauth-agent"
DEFAULT_MAX_MINUTES = 12 * 60  # a long shift: a token living longer is refused, whoever issued it
LEEWAY_SECONDS = 30  # clock skew between the identity provider and this server
AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
PUBLIC_KEY_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
CURVE_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
MIN_RSA_BITS = 2048
PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


class AgentAuthError(Exception):
    """A refused request: the HTTP status, a stable error code and a message the panel shows."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class AgentAuthUnavailable(AgentAuthError):
    def __init__(self, message: str) -> None:
        super().__init__(503, "agent_auth_unavailable", message)


def _invalid(reason: str) -> AgentAuthError:
    return AgentAuthError(401, "invalid_token", f"invalid token: {reason}; sign in again with a new token")


EXPIRED = AgentAuthError(401, "token_expired", "token expired: sign in again with a new token")
REVOKED = AgentAuthError(401, "token_revoked", "token revoked: ask your administrator for a new token")
MISSING = AgentAuthError(
    401, "missing_token", "missing token: sign in (send the header 'Authorization: Bearer <agent token>')"
)


@dataclass(frozen=True)
class VerificationKey:
    key: Any  # an HS256 secret (bytes) or a public key object
    algorithm: str
    kid: str | None = None


@dataclass(frozen=True)
class AgentIdentity:
    agent_id: str
    expires_at: int
    jti: str | None = None


def secret_kid(secret: str) -> str:
    """A key id for an HS256 secret that names it without revealing it."""
    return "hs-" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def _public_key_algorithm(key: Any, where: str) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise AgentAuthConfigError(f"{where}: an RSA key has {key.key_size} bits; at least {MIN_RSA_BITS}")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in CURVE_ALGORITHMS:
        return CURVE_ALGORITHMS[key.curve.name]
    raise AgentAuthConfigError(f"{where}: only RSA and EC (P-256, P-384, P-521) public keys are supported")


def public_keys_from_text(text: str, where: str) -> list[VerificationKey]:
    """The keys of a PEM text (public keys or certificates, one or more) or of a JWKS document."""
    text = text.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
            jwks = jwt.PyJWKSet.from_dict(document)
        except (ValueError, jwt.PyJWKSetError, jwt.PyJWKError) as exc:
            raise AgentAuthConfigError(f"{where}: not a valid JWKS document ({exc})") from exc
        keys = []
        for jwk in jwks.keys:
            if jwk.key_type not in ("RSA", "EC"):
                raise AgentAuthConfigError(f"{where}: only RSA and EC public keys belong here, not '{jwk.key_type}'")
            if getattr(jwk.key, "private_numbers", None):
                raise AgentAuthConfigError(f"{where}: a private key: give the public key only")
            algorithm = jwk.algorithm_name if jwk.algorithm_name in PUBLIC_KEY_ALGORITHMS else None
            keys.append(VerificationKey(jwk.key, algorithm or _public_key_algorithm(jwk.key, where), jwk.key_id))
        return keys
    keys = []
    for block in PEM_BLOCK.finditer(text):
        kind, pem = block.group(1), block.group(0).encode()
        try:
            if kind == "CERTIFICATE":
                key = x509.load_pem_x509_certificate(pem).public_key()
            elif kind == "PUBLIC KEY" or kind == "RSA PUBLIC KEY":
                key = serialization.load_pem_public_key(pem)
            else:
                raise AgentAuthConfigError(f"{where}: a PEM '{kind}' block: give public keys or certificates only")
        except ValueError as exc:
            raise AgentAuthConfigError(f"{where}: a PEM block cannot be read ({exc})") from exc
        keys.append(VerificationKey(key, _public_key_algorithm(key, where)))
    if not keys:
        raise AgentAuthConfigError(f"{where}: no PEM public key, certificate or JWKS found")
    return keys


@dataclass
class RevocationList:
    """Revoked token ids and agent ids, from the environment and a file re-read whenever it changes."""

    inline: frozenset[str] = frozenset()
    path: Path | None = None
    _from_file: frozenset[str] = frozenset()
    _stamp: tuple | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def parse(text: str, where: str) -> frozenset[str]:
        entries = set()
        for number, line in enumerate(text.splitlines(), 1):
            for entry in re.split(r"[\s,]+", line.split("#", 1)[0].strip()):
                if not entry:
                    continue
                kind, _, value = entry.partition(":")
                if kind not in ("jti", "agent") or not value:
                    raise AgentAuthConfigError(
                        f"{where}, line {number}: entries are 'jti:<token id>' or 'agent:<agent id>'; got {entry!r}"
                    )
                entries.add(entry)
        return frozenset(entries)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RevocationList:
        revoked = cls(cls.parse(environ.get(REVOKED_ENV, ""), REVOKED_ENV))
        if environ.get(REVOKED_FILE_ENV):
            revoked.path = Path(environ[REVOKED_FILE_ENV])
            revoked.entries()  # a missing or malformed file stops the start
        return revoked

    def entries(self) -> frozenset[str]:
        if self.path is None:
            return self.inline
        with self._lock:
            try:
                status = self.path.stat()
                stamp = (status.st_mtime_ns, status.st_size, status.st_ino)
                if stamp != self._stamp:
                    self._from_file = self.parse(self.path.read_text(encoding="utf-8"), str(self.path))
                    self._stamp = stamp
            except OSError as exc:
                raise AgentAuthConfigError(
                    f"{REVOKED_FILE_ENV}: cannot read {self.path} ({type(exc).__name__})"
                ) from None
        return self.inline | self._from_file

    def revokes(self, identity: AgentIdentity) -> bool:
        entries = self.entries()
        by_token = identity.jti is not None and f"jti:{identity.jti}" in entries
        return by_token or f"agent:{identity.agent_id}" in entries


@dataclass
class AgentAuth:
    """The deployment's keys and rules for agent tokens; `verify` turns a bearer token into an identity."""

    keys: list[VerificationKey]
    audience: str = DEFAULT_AUDIENCE
    issuer: str | None = None
    max_minutes: int = DEFAULT_MAX_MINUTES
    revoked: RevocationList = field(default_factory=RevocationList)
    signing_secret: str | None = None  # the first HS256 secret: what `mint` signs with
    local_key_path: Path | None = None  # set when the keys are a local run's generated secret

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AgentAuth:
        environ = os.environ if environ is None else environ
        secrets_ = split_secrets(environ.get(SECRET_ENV), SECRET_ENV)
        keys = [VerificationKey(s.encode(), "HS256", secret_kid(s)) for s in secrets_]
        if environ.get(PUBLIC_KEY_ENV):
            keys += public_keys_from_text(environ[PUBLIC_KEY_ENV], PUBLIC_KEY_ENV)
        if environ.get(PUBLIC_KEY_FILE_ENV):
            path = Path(environ[PUBLIC_KEY_FILE_ENV])
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise AgentAuthConfigError(
                    f"{PUBLIC_KEY_FILE_ENV}: cannot read {path} ({type(exc).__name__})"
                ) from None
            keys += public_keys_from_text(text, str(path))
        local_key_path = None
        if not keys:
            if is_production(environ):
                raise AgentAuthConfigError(
                    f"the agent channel needs a key in production: set {SECRET_ENV} (HS256 secrets) or "
                    f"{PUBLIC_KEY_ENV} / {PUBLIC_KEY_FILE_ENV} (the identity provider's public keys); see SECURITY.md"
                )
            local_key_path = run_dir(environ) / SECRET_FILE
            secrets_ = [local_secret(local_key_path.parent, SECRET_FILE)]
            keys = [VerificationKey(secrets_[0].encode(), "HS256", secret_kid(secrets_[0]))]
        try:
            max_minutes = int(environ.get(MAX_MINUTES_ENV) or DEFAULT_MAX_MINUTES)
        except ValueError:
            raise AgentAuthConfigError(f"{MAX_MINUTES_ENV} must be a whole number of minutes") from None
        return cls(
            keys=keys,
            audience=environ.get(AUDIENCE_ENV) or DEFAULT_AUDIENCE,
            issuer=environ.get(ISSUER_ENV) or None,
            max_minutes=max_minutes,
            revoked=RevocationList.from_env(environ),
            signing_secret=secrets_[0] if secrets_ else None,
            local_key_path=local_key_path,
        )

    def mint(self, agent_id: str, minutes: int = 60, now: float | None = None) -> str:
        """A token for `agent_id`, signed with the first HS256 secret (local runs, tests, HS256 deployments)."""
        if not self.signing_secret:
            raise AgentAuthConfigError(
                "this deployment verifies agent tokens with its identity provider's public keys only: "
                "tokens come from the identity provider"
            )
        if not AGENT_ID.fullmatch(agent_id):
            raise ValueError("an agent id is 1-64 characters: letters, digits, '.', '_', '@' or '-'")
        if not 1 <= minutes <= self.max_minutes:
            raise ValueError(f"minutes must be between 1 and {self.max_minutes}")
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": agent_id,
            "aud": self.audience,
            "iat": issued,
            "exp": issued + minutes * 60,
            "jti": uuid.uuid4().hex,
        }
        if self.issuer:
            claims["iss"] = self.issuer
        headers = {"kid": secret_kid(self.signing_secret)}
        return jwt.encode(claims, self.signing_secret, algorithm="HS256", headers=headers)

    def identify(self, authorization: str | None) -> AgentIdentity:
        """The agent of an `Authorization: Bearer <token>` header; AgentAuthError says why not."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if not authorization:
            raise MISSING
        if scheme.lower() != "bearer" or not token.strip():
            raise _invalid("send it as 'Authorization: Bearer <agent token>'")
        return self.verify(token.strip())

    def verify(self, token: str) -> AgentIdentity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise _invalid("not a JWT") from None
        algorithm = header.get("alg")
        accepted = sorted({key.algorithm for key in self.keys})
        if algorithm not in accepted:
            raise _invalid(f"algorithm {algorithm!r} is not accepted (this server accepts {', '.join(accepted)})")
        candidates = [key for key in self.keys if key.algorithm == algorithm]
        named = [key for key in candidates if header.get("kid") and key.kid == header.get("kid")]
        claims = None
        for key in named or candidates:
            try:
                claims = self._decode(token, key)
                break
            except jwt.InvalidSignatureError:
                continue
        if claims is None:
            raise _invalid("its signature matches no key this server trusts")
        identity = self._identity(claims)
        try:
            revoked = self.revoked.revokes(identity)
        except AgentAuthConfigError as exc:  # fail closed: a revocation could be missed
            logger.error("agent tokens refused: %s", exc)
            raise AgentAuthUnavailable(
                "the revocation list cannot be read: agents cannot sign in until it is fixed"
            ) from None
        if revoked:
            raise REVOKED
        return identity

    def _decode(self, token: str, key: VerificationKey) -> dict:
        required = ["exp", "iat", "sub", "aud"] + (["iss"] if self.issuer else [])
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],  # pinned per key: never 'none', never HS256 with a public key
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": required},
            )
        except jwt.InvalidSignatureError:
            raise
        except jwt.ExpiredSignatureError:
            raise EXPIRED from None
        except jwt.InvalidAudienceError:
            raise _invalid(f"it is not for this service (audience must be {self.audience!r})") from None
        except jwt.InvalidIssuerError:
            raise _invalid(f"it was not issued by {self.issuer!r}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _invalid(f"the {exc.claim!r} claim is missing") from None
        except jwt.ImmatureSignatureError:
            raise _invalid("it is not valid yet (issued in the future)") from None
        except jwt.DecodeError:
            raise _invalid("it cannot be decoded") from None
        except jwt.InvalidTokenError as exc:  # PyJWT's messages name the claim, never the token
            raise _invalid(f"its claims are not valid ({exc})") from None

    def _identity(self, claims: dict) -> AgentIdentity:
        subject, jti = claims.get("sub"), claims.get("jti")
        if not isinstance(subject, str) or not AGENT_ID.fullmatch(subject):
            raise _invalid("its subject is not an agent id (1-64 letters, digits, '.', '_', '@' or '-')")
        expires, issued = claims["exp"], claims["iat"]
        if not isinstance(issued, (int, float)) or not isinstance(expires, (int, float)):
            raise _invalid("'iat' and 'exp' must be numbers")
        if expires - issued > self.max_minutes * 60:
            raise _invalid(f"it lives longer than the {self.max_minutes} minutes this server allows")
        return AgentIdentity(subject, int(expires), jti if isinstance(jti, str) and jti else None)
