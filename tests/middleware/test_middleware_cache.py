"""ETag/304, Cache-Control, and the server-side cache of public reads: never across callers,
never stale after a write, shared by processes through Redis."""

from __future__ import annotations

import httpx
from mw_support import ADMIN

OTHER = {"Authorization": "Bearer someone-else-entirely"}


def test_cached_reads_never_cross_callers_and_writes_invalidate_across_processes(
    make_server, redis_url, key_prefix
):
    env = {
        "REDIS_URL": redis_url,
        "BACKFORGE_REDIS_KEY_PREFIX": key_prefix,
        "BACKFORGE_CACHE__RESPONSES": "true",
        "BACKFORGE_CACHE__TTL": "600",
    }
    first, second = make_server(**env), make_server(**env)
    a, b = httpx.Client(base_url=first.url), httpx.Client(base_url=second.url)
    secret = a.post("/api/secrets", json={"label": "for admins"}, headers=ADMIN).json()["id"]
    note = a.post("/api/notes", json={"title": "v1", "secret": secret}, headers=ADMIN).json()
    page = "/api/notes?expand=secret"

    def expanded(response: httpx.Response) -> bool:
        return any(item.get("expand", {}).get("secret") for item in response.json()["items"])

    # The admin's answers (with the secret expanded) are never stored nor served to others.
    for _ in range(2):
        answer = a.get(page, headers=ADMIN)
        assert expanded(answer) and "x-cache" not in answer.headers
        assert answer.headers["cache-control"] == "private, no-cache"
    first_anonymous = b.get(page)
    assert not expanded(first_anonymous) and "x-cache" not in first_anonymous.headers
    assert first_anonymous.headers["cache-control"] == "public, no-cache"
    assert "Authorization" in first_anonymous.headers["vary"]
    # The anonymous answer is shared by the processes through Redis...
    hit = a.get(page)
    assert hit.headers["x-cache"] == "hit" and hit.json() == first_anonymous.json()
    # ...and never served to a caller with credentials, valid or not, or with a cookie.
    for headers in (ADMIN, OTHER, {"Cookie": "session=x"}, {"X-API-Key": "k"}):
        answer = b.get(page, headers=headers)
        assert "x-cache" not in answer.headers
    assert expanded(b.get(page, headers=ADMIN))

    # A write on one process is seen at once on the other.
    patched = a.patch(f"/api/notes/{note['id']}", json={"title": "v2"}, headers=ADMIN)
    assert patched.status_code == 200
    after = b.get(page)
    assert "x-cache" not in after.headers and after.json()["items"][0]["title"] == "v2"
    assert a.get(page).headers["x-cache"] == "hit"
    # A write to a related collection changes the notes' answers too (expand, filters).
    assert b.get("/api/notes?filter=secret.label%20%3D%20%22x%22").status_code == 200
    assert a.delete(f"/api/notes/{note['id']}", headers=ADMIN).status_code == 204
    assert b.get(page).json()["items"] == []

    # ETag and 304, for a record (its version) and for a list (a hash of the body).
    record = a.post("/api/notes", json={"title": "tagged"}, headers=ADMIN)
    tag = record.headers["etag"]
    path = f"/api/notes/{record.json()['id']}"
    unchanged = b.get(path, headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == tag and "content-length" not in unchanged.headers
    listed = b.get("/api/notes")
    assert listed.headers["etag"].startswith('W/"')  # the same content may be sent gzipped
    not_modified = b.get("/api/notes", headers={"If-None-Match": listed.headers["etag"]})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == listed.headers["etag"]
    a.patch(path, json={"title": "changed"}, headers=ADMIN)
    changed = b.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["title"] == "changed"
    assert b.get("/api/notes", headers={"If-None-Match": listed.headers["etag"]}).status_code == 200
    a.close()
    b.close()
