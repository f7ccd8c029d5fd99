from fastapi.testclient import TestClient


def test_hello(client: TestClient) -> None:
    response = client.get("/hello/ada")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello, ada!"}
