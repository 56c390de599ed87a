"""Scripted phones: how each number behaves when the sandbox calls or texts it."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Answer = Literal["human", "machine", "no-answer", "busy", "fail"]


class PhoneScript(BaseModel):
    """Durations are in simulated seconds (multiplied by the sandbox's time scale)."""

    model_config = ConfigDict(extra="forbid")

    answer: Answer = "human"
    answer_after_s: float = Field(default=1.0, ge=0)
    # One string for every <Gather>, or one entry per successive <Gather> (null = press nothing).
    digits: str | list[str | None] | None = None
    press_after_s: float = Field(default=1.0, ge=0)
    # How long the phone stays on the line once answered; null = until the other side ends the call.
    hangup_after_s: float | None = Field(default=None, ge=0)
    # Answering-machine detection: how long it takes, and how a machine's greeting ends.
    amd_after_s: float = Field(default=2.0, ge=0)
    machine_end: Literal["beep", "silence", "other"] = "beep"
    sms: Literal["delivered", "undelivered", "failed"] = "delivered"

    def digits_for(self, gather_index: int) -> str | None:
        """What this phone presses at its n-th <Gather> (0-based); machines press nothing."""
        if self.answer == "machine" or self.digits is None:
            return None
        if isinstance(self.digits, str):
            return self.digits
        return self.digits[gather_index] if gather_index < len(self.digits) else None

    def answered_by(self, *, detect_message_end: bool) -> str:
        if self.answer != "machine":
            return "human"
        if not detect_message_end:
            return "machine_start"
        return f"machine_end_{self.machine_end}"


class PhoneBook:
    def __init__(self) -> None:
        self._scripts: dict[str, PhoneScript] = {}

    def script(self, number: str) -> PhoneScript:
        """Unscripted numbers answer as a human after a short delay and press nothing."""
        return self._scripts.get(number) or PhoneScript()

    def set(self, number: str, script: PhoneScript) -> None:
        self._scripts[number] = script

    def remove(self, number: str) -> bool:
        return self._scripts.pop(number, None) is not None

    def all(self) -> dict[str, PhoneScript]:
        return dict(self._scripts)

    def clear(self) -> None:
        self._scripts.clear()
