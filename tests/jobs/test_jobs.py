"""Durable jobs: enqueued only after commit, retried, dead after the last try, re-run after a
worker is killed mid-job with the idempotency key keeping the effect single."""

from __future__ import annotations

import pytest

from asgi_client import SyncASGIClient
from backforge.store.hooks import SYSTEM

from .conftest import ADMIN, wait_for

JOBS = {
    "send_receipt": {
        "on": "orders.create",
        "handler": "job_hooks.send_receipt",
        "retries": 2,
        "retry_delay": 0.2,
        "retry_backoff": 1.5,
    },
    "paid_notice": {"on": "orders.update", "handler": "job_hooks.paid_notice"},
    # No `on`: queued by the hooks module with backforge.jobs.enqueue.
    "follow_up": {"handler": "job_hooks.follow_up"},
}


class Boom(Exception):
    pass


def test_a_rolled_back_write_enqueues_no_job(db_url, project):
    shop = project(jobs=JOBS, database=db_url)
    with pytest.raises(Boom), shop.store.transaction():
        shop.store.create("orders", SYSTEM, {"note": "follow"})  # a hook enqueues follow_up
        assert len(shop.jobs()) == 0  # not visible outside the open transaction
        raise Boom
    assert shop.jobs() == []
    assert shop.app.jobs.huey.pending_count() == 0

    shop.store.create("orders", SYSTEM, {"note": "kept"})
    [job] = shop.jobs()
    assert job["name"] == "send_receipt" and job["status"] == "pending"
    assert shop.app.jobs.huey.pending_count() == 1
    shop.store.create("orders", SYSTEM, {"note": "follow"})
    assert sorted(j["name"] for j in shop.jobs()) == ["follow_up", "send_receipt", "send_receipt"]


def test_jobs_run_in_a_worker_sync_and_async(project):
    shop = project(jobs=JOBS)
    order = shop.store.create("orders", SYSTEM, {"note": "ok"})
    shop.start_worker()
    wait_for(lambda: shop.rows("receipts", order_id=order["id"], kind="sync"), "the receipt")
    shop.store.update("orders", SYSTEM, order["id"], {"status": "paid"})
    wait_for(lambda: shop.rows("receipts", order_id=order["id"], kind="async"), "async notice")
    followed = shop.store.create("orders", SYSTEM, {"note": "follow"})
    wait_for(lambda: shop.rows("receipts", order_id=followed["id"], kind="follow"), "follow-up")
    wait_for(lambda: all(j["status"] == "done" for j in shop.jobs()), "every job done")


def test_a_failing_job_is_retried_then_dead_and_admins_see_it(project):
    shop = project(jobs=JOBS)
    order = shop.store.create("orders", SYSTEM, {"note": "fail"})
    shop.start_worker()
    job_id = shop.jobs()[0]["id"]
    job = wait_for(
        lambda: (j := shop.job(job_id)) and j["status"] == "dead" and j, "the job to die"
    )
    assert job["failures"] == 3 and job["attempts"] == 3  # the first try and 2 retries
    assert "payment provider is down" in job["last_error"]
    assert sorted(r["attempt"] for r in shop.rows("runs", job=job_id)) == [1, 2, 3]
    assert not shop.rows("receipts", order_id=order["id"])

    client = SyncASGIClient(shop.app)
    assert client.get("/api/admin/jobs").status_code == 403
    admin = {"Authorization": f"Bearer {ADMIN}"}
    listed = client.get("/api/admin/jobs?status=dead", headers=admin)
    assert listed.status_code == 200
    body = listed.json()
    assert body["counts"]["dead"] == 1
    assert [item["id"] for item in body["items"]] == [job_id]

    # An admin gives the dead job a fresh set of tries; the running worker takes it again.
    assert client.post(f"/api/admin/jobs/{job_id}/retry").status_code == 403
    retried = client.post(f"/api/admin/jobs/{job_id}/retry", headers=admin)
    assert retried.status_code == 202
    assert client.post(f"/api/admin/jobs/{job_id}/retry", headers=admin).status_code == 404
    wait_for(
        lambda: (j := shop.job(job_id))["status"] == "dead" and j["attempts"] == 6,
        "the retried job to die again",
    )


def test_finished_work_is_forgotten_after_the_retention(project, monkeypatch):
    shop = project(jobs=JOBS)
    shop.store.create("orders", SYSTEM, {"note": "ok"})
    [job] = shop.jobs()
    shop.app.jobs.run(job["id"])  # in this process, as a worker would
    assert shop.job(job["id"])["status"] == "done"
    shop.app.jobs.prune()
    assert shop.job(job["id"]) is not None  # younger than a week
    monkeypatch.setenv("BACKFORGE_JOBS_RETENTION_DAYS", "0")
    shop.app.jobs.prune()
    assert shop.jobs() == []
    done = shop.store.metadata.tables["_bf_jobs_done"]
    with shop.store.engine.connect() as connection:
        assert connection.execute(done.select()).all() == []


def test_a_worker_killed_mid_job_leaves_it_to_run_again_with_its_effect_single(db_url, project):
    shop = project(jobs=JOBS, database=db_url)
    order = shop.store.create("orders", SYSTEM, {"note": "hang"})
    job_id = shop.jobs()[0]["id"]
    workers = {process.pid: process for process in (shop.start_worker(), shop.start_worker())}
    # One worker's first run has committed its receipt and now hangs: kill that worker.
    wait_for(lambda: shop.rows("receipts", order_id=order["id"]), "the first run's receipt")
    [first_run] = shop.rows("runs", job=job_id)
    killed = workers.pop(first_run["pid"])
    killed.kill()
    killed.wait(10)
    assert shop.job(job_id)["status"] == "running"

    # Its lease lapses; the other worker runs the job again, and the receipt stays single.
    wait_for(lambda: shop.job(job_id)["status"] == "done", "the job to be run again")
    runs = sorted((r["attempt"], r["pid"]) for r in shop.rows("runs", job=job_id))
    assert runs == [(1, killed.pid), (2, next(iter(workers)))]
    assert len(shop.rows("receipts", order_id=order["id"])) == 1
