"""The job resource: reading, listing, polling, cancelling and downloading jobs."""

import io

import pytest

from models.job import JobKind, create_job
from tests.helpers import assert_problem

HEADER = "sku,name,description,price_cents,stock\n"


@pytest.fixture
def queued_job(in_app, admin):
    """Record a queued import job without running it; its id."""

    def make(**extra) -> int:
        job, _ = in_app(
            create_job,
            kind=JobKind.PRODUCT_IMPORT,
            user_id=admin["id"],
            params={"dry_run": False},
            fingerprint="f" * 64,
            progress_total=10,
            **extra,
        )
        return job.id

    return make


def import_file(client, headers, text: str = HEADER + "MUG-1,Mug,,1,1\n") -> dict:
    response = client.post(
        "/api/v1/products/imports",
        headers=headers,
        data={"file": (io.BytesIO(text.encode()), "c.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202
    return response.get_json()


def test_a_queued_job_shows_every_field_null_until_known_and_asks_to_poll(
    client, admin_headers, queued_job
):
    job_id = queued_job()

    response = client.get(f"/api/v1/jobs/{job_id}", headers=admin_headers)

    assert response.status_code == 200
    job = response.get_json()
    assert job == {
        "id": job_id,
        "kind": "product_import",
        "status": "queued",
        "progress": {"done": 0, "total": 10},
        "result": None,
        "errors": [],
        "error_count": 0,
        "detail": None,
        "created_at": job["created_at"],
        "started_at": None,
        "finished_at": None,
        "_links": {"self": f"/api/v1/jobs/{job_id}", "cancel": f"/api/v1/jobs/{job_id}/cancel"},
    }
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["ETag"]


def test_a_job_revalidates_with_its_etag(client, admin_headers, queued_job):
    job_id = queued_job()
    first = client.get(f"/api/v1/jobs/{job_id}", headers=admin_headers)

    again = client.get(
        f"/api/v1/jobs/{job_id}", headers={**admin_headers, "If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    client.post(f"/api/v1/jobs/{job_id}/cancel", headers=admin_headers)
    changed = client.get(
        f"/api/v1/jobs/{job_id}", headers={**admin_headers, "If-None-Match": first.headers["ETag"]}
    )
    assert changed.status_code == 200


def test_cancelling_a_queued_job_stops_it_for_good(client, admin_headers, queued_job):
    job_id = queued_job()

    response = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=admin_headers)

    assert response.status_code == 200
    job = response.get_json()
    assert (job["status"], job["detail"]) == ("cancelled", "Cancelled on request")
    assert job["finished_at"]
    assert "cancel" not in job["_links"]
    again = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=admin_headers)
    assert "already finished (cancelled)" in assert_problem(again, 409)["detail"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=admin_headers).get_json() == job


def test_a_finished_job_cannot_be_cancelled(client, admin_headers):
    job = import_file(client, admin_headers)

    response = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=admin_headers)

    assert_problem(response, 409)


def test_unknown_jobs_are_404(client, admin_headers):
    for path in ("/api/v1/jobs/999", "/api/v1/jobs/999/download"):
        assert_problem(client.get(path, headers=admin_headers), 404)
    assert_problem(client.post("/api/v1/jobs/999/cancel", headers=admin_headers), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/jobs"),
        ("get", "/api/v1/jobs/1"),
        ("post", "/api/v1/jobs/1/cancel"),
        ("get", "/api/v1/jobs/1/download"),
    ],
)
def test_jobs_are_for_admins_only(client, customer_headers, method, path):
    assert_problem(getattr(client, method)(path, headers=customer_headers), 403)
    assert_problem(getattr(client, method)(path), 401)


def test_the_list_is_newest_first_with_filters_and_a_cursor(client, admin_headers, queued_job):
    ids = [queued_job() for _ in range(5)]
    client.post(f"/api/v1/jobs/{ids[1]}/cancel", headers=admin_headers)

    page = client.get("/api/v1/jobs?per_page=2", headers=admin_headers).get_json()
    assert [job["id"] for job in page["items"]] == [ids[4], ids[3]]
    assert page["total"] == 5
    seen = [job["id"] for job in page["items"]]
    while "next" in page["_links"]:
        assert "after=" in page["_links"]["next"]
        page = client.get(page["_links"]["next"], headers=admin_headers).get_json()
        seen += [job["id"] for job in page["items"]]
    assert seen == ids[::-1]

    oldest = client.get("/api/v1/jobs?sort=created_at&per_page=1", headers=admin_headers)
    assert oldest.get_json()["items"][0]["id"] == ids[0]
    cancelled = client.get("/api/v1/jobs?status=cancelled", headers=admin_headers).get_json()
    assert [job["id"] for job in cancelled["items"]] == [ids[1]]
    exports = client.get("/api/v1/jobs?kind=order_export", headers=admin_headers).get_json()
    assert exports["items"] == []
    bad = client.get("/api/v1/jobs?status=done", headers=admin_headers)
    assert_problem(bad, 400, fields=["status"])


def test_an_import_has_nothing_to_download(client, admin_headers):
    job = import_file(client, admin_headers)

    assert "download" not in job["_links"]
    assert_problem(client.get(f"/api/v1/jobs/{job['id']}/download", headers=admin_headers), 404)


def test_job_log_lines_carry_the_jobs_id(build_app, admin, capsys):
    app = build_app()
    job = import_file(app.test_client(), {"Authorization": f"Bearer {admin['access']}"})

    lines = [line for line in capsys.readouterr().out.splitlines() if '"api.jobs"' in line]
    assert lines
    assert all(f'"job_id": {job["id"]}' in line for line in lines)


def test_metrics_show_the_queue_depth_and_jobs_by_status(build_app, admin, queued_job):
    app = build_app(METRICS_TOKEN="scrape-me")
    client = app.test_client()
    queued_job()
    import_file(client, {"Authorization": f"Bearer {admin['access']}"})

    text = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).get_data(True)

    assert "job_queue_depth 0.0" in text
    assert 'jobs{status="queued"} 1.0' in text
    assert 'jobs{status="succeeded"} 1.0' in text
    assert 'jobs{status="failed"} 0.0' in text
