from fastapi.testclient import TestClient


def sample(text: str, name: str, labels: str) -> float:
    prefix = f"{name}{{{labels}}} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


def test_metrics_count_requests_by_route_template_and_status(client: TestClient) -> None:
    client.get("/hello/ada")
    client.get("/hello/grace")
    client.get("/nowhere")
    text = client.get("/metrics").text
    assert (
        sample(text, "http_requests_total", 'method="GET",route="/hello/{name}",status="200"')
        == 2.0
    )
    unmatched = 'method="GET",route="<unmatched>",status="404"'
    assert sample(text, "http_requests_total", unmatched) == 1.0


def test_metrics_record_latency(client: TestClient) -> None:
    client.get("/live")
    text = client.get("/metrics").text
    labels = 'method="GET",route="/live",status="200"'
    assert sample(text, "http_request_duration_seconds_count", labels) == 1.0
    assert "http_request_duration_seconds_bucket" in text


def test_metrics_content_type(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


def test_apps_do_not_share_counts(client: TestClient) -> None:
    text = client.get("/metrics").text
    assert sample(text, "http_requests_total", 'method="GET",route="/live",status="200"') == 0.0
