from __future__ import annotations

from litestar.testing import AsyncTestClient


async def test_schema_serves_the_openapi_document(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/schema")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Wattlas"
    assert "/health" in document["paths"]
