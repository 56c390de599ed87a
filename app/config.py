"""The one place settings are read; every field is documented in README's settings table."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The carrier sandbox's fixed credentials: it is a local simulator, so these are not secrets.
SANDBOX_ACCOUNT_SID = "AC" + "0" * 31 + "1"
SANDBOX_AUTH_TOKEN = "sandbox-auth-token"
TWILIO_PRODUCTION_URL = "https://api.twilio.com"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = ""
    redis_url: str = ""
    data_dir: Path = Path(".firstring")

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"

    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_api_base_url: str = TWILIO_PRODUCTION_URL
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = 8100
    sandbox_time_scale: float = 1.0

    dial_budget_seconds: float = 5.0
    rep_ring_timeout_seconds: int = 20
    twilio_calls_per_second: float = 1.0
    caller_id: str = "+14155550100"
    rep_misses_before_away: int = 2
    whisper_gather_seconds: int = 6
    lead_ring_timeout_seconds: int = 30
    claim_lease_seconds: float = 10.0
    worker_poll_delay_seconds: float = 0.005
    worker_max_jobs: int = 100

    duplicate_window_seconds: int = 600
    source_cache_seconds: float = Field(default=1.0, ge=0)
    max_body_bytes: int = 65536
    signature_tolerance_seconds: int = 300
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"  # observability: one JSON object per line
    metrics_port: int = 0  # observability: the worker's /metrics port; 0 = none
    webhook_retry_base_seconds: float = 10.0
    webhook_give_up_hours: float = 24.0
    webhook_timeout_seconds: float = 10.0
    # abuse protection on the public intake (README "Abuse protection")
    intake_rate_per_source_per_minute: int = Field(default=600, ge=1)
    intake_rate_per_ip_per_minute: int = Field(default=60, ge=1)
    phone_leads_per_day: int = Field(default=3, ge=1)
    trusted_proxy_hops: int = Field(default=0, ge=0)
    secret_rotation_grace_seconds: int = Field(default=86400, ge=0)
    # privacy (README "Privacy")
    webhook_secret_rotation_grace_seconds: int = Field(default=86400, ge=0)
    raw_payload_retention_days: int = Field(default=90, ge=0)  # 0 = kept for good
    # follow-up cadences (README "Cadences")
    nurture_every_days: int = Field(default=30, ge=1)
    calling_window_start: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    calling_window_end: str = Field(default="21:00", pattern=r"^([01]\d|2[0-4]):[0-5]\d$")
    window_spread_minutes: int = Field(default=15, ge=0)
    cadence_sweep_batch: int = Field(default=500, ge=1)
    # email (README "Email"): no SMTP_HOST = email steps are skipped and say so
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_seconds: float = 10.0
    email_from: str = "FirstRing <leads@firstring.invalid>"
    # signs unsubscribe links; empty = a random one kept in DATA_DIR
    link_signing_secret: SecretStr = SecretStr("")

    @property
    def uses_sandbox(self) -> bool:
        return not self.twilio_account_sid

    @property
    def carrier_account_sid(self) -> str:
        return self.twilio_account_sid or SANDBOX_ACCOUNT_SID

    @property
    def carrier_auth_token(self) -> str:
        return self.twilio_auth_token.get_secret_value() or SANDBOX_AUTH_TOKEN

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.sandbox_host}:{self.sandbox_port}"

    @property
    def carrier_base_url(self) -> str:
        """Where the Twilio client sends its requests: the sandbox unless credentials are set."""
        if self.uses_sandbox and self.twilio_api_base_url == TWILIO_PRODUCTION_URL:
            return self.sandbox_url
        return self.twilio_api_base_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
