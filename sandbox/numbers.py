"""The account's own numbers, and where texts to each are posted (an IncomingPhoneNumber's
SmsUrl and SmsMethod)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from sandbox.rules import is_http_url


class NumberConfig(BaseModel):
    """One of the account's numbers: where texts to it are posted."""

    model_config = ConfigDict(extra="forbid")

    sms_url: str
    sms_method: Literal["POST", "GET"] = "POST"

    @field_validator("sms_url")
    @classmethod
    def http_url(cls, value: str) -> str:
        if not is_http_url(value):
            raise ValueError("sms_url must be an http(s) URL")
        return value


class NumberBook:
    def __init__(self) -> None:
        self._numbers: dict[str, NumberConfig] = {}

    def get(self, number: str) -> NumberConfig | None:
        return self._numbers.get(number)

    def set(self, number: str, config: NumberConfig) -> None:
        self._numbers[number] = config

    def remove(self, number: str) -> bool:
        return self._numbers.pop(number, None) is not None

    def all(self) -> dict[str, NumberConfig]:
        return dict(self._numbers)

    def clear(self) -> None:
        self._numbers.clear()
