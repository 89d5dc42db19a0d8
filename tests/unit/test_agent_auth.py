"""Agent tokens (priorauth/agent_auth.py) and the agent channel's proof to the action server (agent_proof.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from priorauth.agent_auth import AgentAuth, AgentAuthError, AgentAuthUnavailable, secret_kid
from priorauth.agent_proof import AgentAuthConfigError, agent_vouched, channel_secrets, is_production, sign_proof

SECRET = "a" * 64
OTHER_SECRET = "b" * 64
AUDIENCE = "priorauth-agent"


def auth(**environ: str) -> AgentAuth:
    return AgentAuth.from_env({"PRIORAUTH_AGENT_JWT_SECRET": SECRET, **environ})


def claims(**overrides) -> dict:
    now = int(time.time())
    base = {"sub": "alice", "aud": AUDIENCE, "iat": now, "exp": now + 600, "jti": "t-1"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def refusal(verifier: AgentAuth, token: str) -> AgentAuthError:
    with pytest.raises(AgentAuthError) as refused:
        verifier.verify(token)
    return refused.value


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


# ---- what verifies -------------------------------------------------------------------------------------------
def test_a_minted_token_names_its_agent_and_verifies():
    verifier = auth()
    token = verifier.mint("alice", minutes=30)
    identity = verifier.verify(token)
    assert identity.agent_id == "alice" and identity.jti
    assert 29 * 60 <= identity.expires_at - time.time() <= 30 * 60
    header, payload = jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256" and header["kid"] == secret_kid(SECRET)
    assert payload["aud"] == AUDIENCE and payload["sub"] == "alice" and {"iat", "exp", "jti"} <= set(payload)


def test_the_identity_providers_rsa_and_ec_keys_verify_their_tokens(rsa_key, tmp_path):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path / "idp.pem"
    key_file.write_text(public_pem(rsa_key) + public_pem(ec_key))
    verifier = AgentAuth.from_env(
        {"PRIORAUTH_AGENT_JWT_PUBLIC_KEY_FILE": str(key_file), "PRIORAUTH_AGENT_JWT_ISSUER": "https://idp.example"}
    )
    assert [k.algorithm for k in verifier.keys] == ["RS256", "ES256"] and verifier.signing_secret is None
    rs = jwt.encode(claims(iss="https://idp.example"), rsa_key, algorithm="RS256")
    es = jwt.encode(claims(sub="bob", iss="https://idp.example"), ec_key, algorithm="ES256")
    assert verifier.verify(rs).agent_id == "alice" and verifier.verify(es).agent_id == "bob"
    assert "issued by 'https://idp.example'" in refusal(verifier, jwt.encode(claims(iss="x"), rsa_key, "RS256")).message
    assert "'iss' claim is missing" in refusal(verifier, jwt.encode(claims(), rsa_key, "RS256")).message
    with pytest.raises(AgentAuthConfigError, match="public keys only"):
        verifier.mint("alice")


def test_a_jwks_document_selects_the_key_by_its_kid(rsa_key):
    old = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = {
        "keys": [
            {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(old.public_key())), "kid": "2026-old", "alg": "RS256"},
            {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())), "kid": "2026-new"},
        ]
    }
    verifier = AgentAuth.from_env({"PRIORAUTH_AGENT_JWT_PUBLIC_KEY": json.dumps(jwks)})
    assert [k.kid for k in verifier.keys] == ["2026-old", "2026-new"]
    for key, kid in ((old, "2026-old"), (rsa_key, "2026-new")):
        assert verifier.verify(jwt.encode(claims(), key, "RS256", headers={"kid": kid})).agent_id == "alice"


def test_during_a_rotation_both_secrets_verify_and_the_first_signs():
    old_token = auth().mint("alice")
    rotated = AgentAuth.from_env({"PRIORAUTH_AGENT_JWT_SECRET": f"{OTHER_SECRET}, {SECRET}"})
    assert rotated.verify(old_token).agent_id == "alice"
    assert jwt.get_unverified_header(rotated.mint("bob"))["kid"] == secret_kid(OTHER_SECRET)
    assert refusal(AgentAuth.from_env({"PRIORAUTH_AGENT_JWT_SECRET": OTHER_SECRET}), old_token).code == "invalid_token"


# ---- what is refused, and why -------------------------------------------------------------------------------
def test_an_expired_token_is_refused_as_expired():
    token = auth().mint("alice", minutes=60, now=time.time() - 2 * 3600)
    refused = refusal(auth(), token)
    assert (refused.status, refused.code) == (401, "token_expired")
    assert refused.message == "token expired: sign in again with a new token"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (jwt.encode(claims(), OTHER_SECRET, "HS256"), "its signature matches no key this server trusts"),
        (jwt.encode(claims(aud="another-service"), SECRET, "HS256"), "it is not for this service"),
        (jwt.encode(claims(), None, "none"), "algorithm 'none' is not accepted (this server accepts HS256)"),
        (jwt.encode(claims(), SECRET, "HS512"), "algorithm 'HS512' is not accepted"),
        (jwt.encode(claims(exp=None), SECRET, "HS256"), "the 'exp' claim is missing"),
        (jwt.encode(claims(aud=None), SECRET, "HS256"), "the 'aud' claim is missing"),
        (jwt.encode(claims(iat=None), SECRET, "HS256"), "the 'iat' claim is missing"),
        (jwt.encode(claims(sub=None), SECRET, "HS256"), "the 'sub' claim is missing"),
        (jwt.encode(claims(sub="agent:alice"), SECRET, "HS256"), "its subject is not an agent id"),
        (jwt.encode(claims(iat=int(time.time()) + 3600), SECRET, "HS256"), "not valid yet"),
        (jwt.encode(claims(exp=int(time.time()) + 13 * 3600), SECRET, "HS256"), "lives longer than the 720 minutes"),
        ("not-a-token", "not a JWT"),
        ("", "not a JWT"),
    ],
    ids=[
        "other-key",
        "other-audience",
        "alg-none",
        "other-hs-alg",
        "no-exp",
        "no-aud",
        "no-iat",
        "no-sub",
        "bad-sub",
        "future-iat",
        "too-long",
        "garbage",
        "empty",
    ],
)
def test_a_bad_token_is_refused_with_the_reason(token, reason):
    refused = refusal(auth(), token)
    assert (refused.status, refused.code) == (401, "invalid_token")
    assert reason in refused.message and refused.message.startswith("invalid token: ")


def test_a_tampered_payload_breaks_the_signature():
    header, _, signature = auth().mint("bob").split(".")
    forged_payload = b64(json.dumps(claims(sub="alice")).encode())
    refused = refusal(auth(), f"{header}.{forged_payload}.{signature}")
    assert refused.code == "invalid_token" and "signature matches no key" in refused.message


def test_an_hs256_token_made_with_the_public_key_as_secret_is_refused(rsa_key):
    """The classic confusion: the attacker knows the public key and 'signs' HS256 with its PEM."""
    pem = public_pem(rsa_key)
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    signature = b64(hmac.new(pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    forged = f"{header}.{payload}.{signature}"
    public_only = AgentAuth.from_env({"PRIORAUTH_AGENT_JWT_PUBLIC_KEY": pem})
    assert "algorithm 'HS256' is not accepted (this server accepts RS256)" in refusal(public_only, forged).message
    both = AgentAuth.from_env({"PRIORAUTH_AGENT_JWT_PUBLIC_KEY": pem, "PRIORAUTH_AGENT_JWT_SECRET": SECRET})
    assert "signature matches no key" in refusal(both, forged).message
    # And an RS256 token is not checked against an HS256 secret either.
    rs = jwt.encode(claims(), rsa_key, "RS256")
    assert "algorithm 'RS256' is not accepted" in refusal(auth(), rs).message


def test_revoked_token_ids_and_agents_are_refused(tmp_path):
    verifier = auth(PRIORAUTH_AGENT_REVOKED="jti:t-1")
    revoked = refusal(verifier, jwt.encode(claims(jti="t-1"), SECRET, "HS256"))
    assert (revoked.status, revoked.code) == (401, "token_revoked")
    assert revoked.message == "token revoked: ask your administrator for a new token"
    assert verifier.verify(jwt.encode(claims(jti="t-2"), SECRET, "HS256")).agent_id == "alice"

    deny = tmp_path / "revoked.txt"
    deny.write_text("# left the team\nagent:bob\n")
    verifier = auth(PRIORAUTH_AGENT_REVOKED_FILE=str(deny))
    assert refusal(verifier, verifier.mint("bob")).code == "token_revoked"
    token = verifier.mint("alice")
    assert verifier.verify(token).agent_id == "alice"
    deny.write_text(f"agent:bob\njti:{jwt.decode(token, options={'verify_signature': False})['jti']}  # leaked\n")
    os.utime(deny, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even on a coarse clock
    assert refusal(verifier, token).code == "token_revoked"  # no restart needed


def test_an_unreadable_revocation_list_fails_closed(tmp_path):
    deny = tmp_path / "revoked.txt"
    deny.write_text("jti:x\n")
    verifier = auth(PRIORAUTH_AGENT_REVOKED_FILE=str(deny))
    token = verifier.mint("alice")
    deny.unlink()
    with pytest.raises(AgentAuthUnavailable) as refused:
        verifier.verify(token)
    assert refused.value.status == 503 and "revocation list cannot be read" in refused.value.message


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PRIORAUTH_ENV": "production"}, "needs a key in production"),
        ({"PRIORAUTH_TRACKER_URL": "postgresql://db/x"}, "needs a key in production"),
        ({"PRIORAUTH_AGENT_JWT_SECRET": "short"}, "at least 32 characters"),
        ({"PRIORAUTH_AGENT_JWT_PUBLIC_KEY": "nonsense"}, "no PEM public key, certificate or JWKS"),
        ({"PRIORAUTH_AGENT_JWT_PUBLIC_KEY_FILE": "/nonexistent/idp.pem"}, "cannot read"),
        ({"PRIORAUTH_AGENT_JWT_SECRET": SECRET, "PRIORAUTH_AGENT_REVOKED": "bob"}, "'jti:<token id>' or 'agent:"),
        ({"PRIORAUTH_AGENT_JWT_SECRET": SECRET, "PRIORAUTH_AGENT_REVOKED_FILE": "/nonexistent"}, "cannot read"),
        ({"PRIORAUTH_AGENT_JWT_SECRET": SECRET, "PRIORAUTH_AGENT_JWT_MAX_MINUTES": "8h"}, "whole number"),
    ],
)
def test_a_wrong_or_missing_production_configuration_stops_the_start(environ, message, tmp_path):
    with pytest.raises(AgentAuthConfigError, match=message):
        AgentAuth.from_env({"PRIORAUTH_RUN_DIR": str(tmp_path), **environ})
    assert not (tmp_path / "agent-jwt-secret").exists()


def test_a_private_key_is_not_accepted_as_the_public_key(rsa_key):
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(AgentAuthConfigError, match="public keys or certificates only"):
        AgentAuth.from_env({"PRIORAUTH_AGENT_JWT_PUBLIC_KEY": pem})


def test_a_local_run_gets_one_private_key_kept_across_restarts(tmp_path):
    environ = {"PRIORAUTH_RUN_DIR": str(tmp_path)}
    first = AgentAuth.from_env(environ)
    path = tmp_path / "agent-jwt-secret"
    assert first.local_key_path == path and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text()) >= 40
    assert AgentAuth.from_env(environ).verify(first.mint("alice")).agent_id == "alice"
    assert [p.name for p in tmp_path.iterdir()] == ["agent-jwt-secret"]  # no temporary file left


def test_minting_checks_the_agent_id_and_lifetime():
    with pytest.raises(ValueError, match="an agent id is 1-64 characters"):
        auth().mint("agent:alice")
    with pytest.raises(ValueError, match="between 1 and 720"):
        auth().mint("alice", minutes=721)


# ---- the channel's proof for the action server --------------------------------------------------------------
CHANNEL = {"PRIORAUTH_AGENT_CHANNEL_SECRET": "c" * 40}
SENDER = "agent:alice:s1"


def test_the_proof_vouches_for_one_agent_one_conversation_one_message():
    proof = sign_proof("c" * 40, SENDER, "alice", "m-1")
    assert agent_vouched(SENDER, "alice", "m-1", proof, CHANNEL)
    assert not agent_vouched(SENDER, "alice", "m-2", proof, CHANNEL)  # replayed on another message
    assert not agent_vouched("agent:alice:s2", "alice", "m-1", proof, CHANNEL)
    assert not agent_vouched(SENDER, "bob", "m-1", sign_proof("c" * 40, SENDER, "bob", "m-1"), CHANNEL)
    assert not agent_vouched("rest-user", "alice", "m-1", sign_proof("c" * 40, "rest-user", "alice", "m-1"), CHANNEL)
    assert not agent_vouched(SENDER, "alice", "m-1", sign_proof("d" * 40, SENDER, "alice", "m-1"), CHANNEL)
    assert not agent_vouched(SENDER, "alice", "m-1", "forged", CHANNEL)
    assert not agent_vouched(SENDER, "alice", None, proof, CHANNEL)
    assert not agent_vouched(SENDER, "alice", "m-1", proof, {"PRIORAUTH_ENV": "production"})  # no secret


def test_the_channel_secret_is_configured_in_production_and_generated_locally(tmp_path):
    assert channel_secrets({"PRIORAUTH_ENV": "production"}) == []
    assert channel_secrets({"PRIORAUTH_RUN_DIR": str(tmp_path)}, create=False) == []
    [local] = channel_secrets({"PRIORAUTH_RUN_DIR": str(tmp_path)})
    assert stat.S_IMODE((tmp_path / "agent-channel-secret").stat().st_mode) == 0o600
    assert channel_secrets({"PRIORAUTH_RUN_DIR": str(tmp_path)}, create=False) == [local]
    assert channel_secrets({**CHANNEL, "PRIORAUTH_RUN_DIR": str(tmp_path)}) == ["c" * 40]


@pytest.mark.parametrize(
    ("environ", "production"),
    [
        ({}, False),
        ({"PRIORAUTH_RUN_DIR": "/tmp/x"}, False),
        ({"PRIORAUTH_ENV": "Production"}, True),
        ({"PRIORAUTH_ENV": "development"}, False),
        ({"PRIORAUTH_REDIS_URL": "redis://r:6379/1"}, True),
        ({"DB_HOST": "postgres"}, True),
    ],
)
def test_what_counts_as_production(environ, production):
    assert is_production(environ) is production


# ---- the sign-in command -------------------------------------------------------------------------------------
def test_the_agent_token_command_prints_a_token_for_the_local_run(monkeypatch, tmp_path, capsys):
    from priorauth.cli import main

    for name in list(os.environ):
        if name.startswith("PRIORAUTH_AGENT_") or name == "PRIORAUTH_ENV":
            monkeypatch.delenv(name)
    monkeypatch.setenv("PRIORAUTH_RUN_DIR", str(tmp_path))
    assert main(["agent-token", "alice", "--minutes", "15"]) == 0
    token = capsys.readouterr().out.strip()
    identity = AgentAuth.from_env({"PRIORAUTH_RUN_DIR": str(tmp_path)}).verify(token)
    assert identity.agent_id == "alice" and 14 * 60 <= identity.expires_at - time.time() <= 15 * 60
    assert main(["agent-token", "agent:alice"]) == 2
    assert "an agent id is 1-64 characters" in capsys.readouterr().err
    monkeypatch.setenv("PRIORAUTH_ENV", "production")
    assert main(["agent-token", "alice"]) == 2
    assert "needs a key in production" in capsys.readouterr().err
