"""Unsubscribe links: signed, refused when tampered with, secret kept in DATA_DIR if unset."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

from pydantic import SecretStr

from app.config import Settings
from app.email.links import SECRET_FILE, lead_id_from_token, stored_secret, unsubscribe_token


def test_a_token_names_its_lead() -> None:
    settings = Settings(link_signing_secret=SecretStr("one"))
    lead_id = uuid4()
    token = unsubscribe_token(lead_id, settings)
    assert lead_id_from_token(token, settings) == lead_id
    assert token.replace("-", "").replace("_", "").isalnum()  # safe in a URL path as it is


def test_tampered_or_foreign_tokens_are_refused() -> None:
    settings = Settings(link_signing_secret=SecretStr("one"))
    token = unsubscribe_token(uuid4(), settings)
    flipped = token[:3] + ("A" if token[3] != "A" else "B") + token[4:]  # another lead id
    forged = unsubscribe_token(uuid4(), Settings(link_signing_secret=SecretStr("two")))
    for bad in (flipped, token[:-2], token + "AA", forged, "", "not a token", "é" * 64):
        assert lead_id_from_token(bad, settings) is None, bad


def test_without_a_configured_secret_one_is_made_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(link_signing_secret=SecretStr(""), data_dir=tmp_path / "data")
    lead_id = uuid4()
    token = unsubscribe_token(lead_id, settings)

    path = tmp_path / "data" / SECRET_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    stored_secret.cache_clear()  # as another process would: read from the file
    assert lead_id_from_token(token, settings) == lead_id


def test_processes_racing_to_make_the_secret_agree(tmp_path: Path) -> None:
    path = tmp_path / SECRET_FILE
    with ThreadPoolExecutor(8) as pool:
        made = set(pool.map(lambda _: stored_secret.__wrapped__(path), range(8)))
    assert len(made) == 1
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # no drafts left behind
