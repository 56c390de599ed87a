"""The intake route reads its session, headers and answer itself, not through FastAPI's
dependency solving and response model: it must answer exactly as it did through them."""

from httpx import AsyncClient

from app.models import Source

ADA = {"name": "Ada Lovelace", "phone": "(415) 555-0142"}


async def test_an_idempotency_key_over_200_characters_is_refused_as_a_header_param(
    client: AsyncClient, source: Source
) -> None:
    response = await client.post(
        "/hooks/forms/landing", json=ADA, headers={"Idempotency-Key": "k" * 201}
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "String should have at most 200 characters",
            "field": "header.idempotency-key",
        }
    }


async def test_an_idempotency_key_of_200_characters_is_taken(
    client: AsyncClient, source: Source
) -> None:
    headers = {"Idempotency-Key": "k" * 200}
    first = await client.post("/hooks/forms/landing", json=ADA, headers=headers)
    again = await client.post("/hooks/forms/landing", json=ADA, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == {**first.json(), "duplicate": True}


async def test_the_answer_is_the_response_model_s_json(client: AsyncClient, source: Source) -> None:
    response = await client.post("/hooks/forms/landing", json=ADA)
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    assert list(response.json()) == ["lead_id", "status", "duplicate"]
    assert response.content.startswith(b'{"lead_id":"')
