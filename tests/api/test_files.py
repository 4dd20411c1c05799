"""File fields over HTTP, on both storage backends (a local directory and an S3-compatible
server, moto's, on 127.0.0.1) and both databases: uploads checked by content, downloads under
the view rule or a signed link, thumbnails, and files deleted after the commit that lets them go
— never after a rollback."""

from __future__ import annotations

import io
import struct
import time
import uuid
import zlib
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from backforge.files.prune import orphans

ADMIN = {"Authorization": "Bearer test-admin-token-0123456789"}
# A Windows program's first bytes: what filetype knows as application/x-msdownload.
PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200


def image(width: int = 300, height: int = 200, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, image_format)
    return buffer.getvalue()


def declaration(files: dict) -> dict:
    return {
        "name": "album",
        "server": {"files": files},
        "collections": {
            "albums": {
                "fields": {"title": {"type": "text", "required": True}},
                "rules": {"list": "true", "view": "true", "create": "true", "delete": "true"},
            },
            "photos": {
                "fields": {
                    "title": {"type": "text", "required": True, "unique": True},
                    "public": {"type": "bool", "default": False},
                    "album": {"type": "relation", "to": "albums", "on_delete": "cascade"},
                    "image": {
                        "type": "file",
                        "required": True,
                        "max_size": "100KB",
                        "accept": ["image/*"],
                        "thumbs": ["50x50", "100x0", "40x40f"],
                    },
                    "attachments": {"type": "file", "multiple": True, "max_files": 3},
                    "secret": {"type": "file", "hidden": True},
                },
                "rules": {
                    "list": "public = true",
                    "view": "public = true",
                    "create": "true",
                    "update": "public = true",
                    "delete": "public = true",
                },
            },
        },
    }


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def files_settings(request, tmp_path, monkeypatch) -> dict:
    if request.param == "local":
        return {"path": str(tmp_path / "files")}
    endpoint = request.getfixturevalue("s3_endpoint")
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    bucket = f"files-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return {"storage": "s3", "bucket": bucket, "endpoint_url": endpoint, "region": "us-east-1"}


@pytest.fixture
def client(make_client, files_settings):
    return make_client(declaration(files_settings))


def stored(client) -> set[str]:
    """Every key in the storage of the app behind `client`."""
    service = client.app.store.files
    service.wait_for_removals()  # a remote store deletes in a thread of its own
    return {key for key, _written in service.storage.entries("photos/")}


def create(client, title: str = "sunset", public: bool = True, **files) -> dict:
    files = files or {"image": ("sunset.png", image(), "image/png")}
    response = client.post(
        "/api/photos", data={"title": title, "public": str(public).lower()}, files=files
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_an_upload_is_stored_and_downloaded_as_it_was_sent(client):
    content = image()
    record = create(client, image=("Sunset at Sea.PNG", content, "application/octet-stream"))
    assert record["image"].startswith("sunset-at-sea_") and record["image"].endswith(".png")
    assert record["public"] is True  # a text part read as the field's type
    response = client.get(f"/api/photos/{record['id']}/files/{record['image']}")
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "image/png"  # from the content, not the client
    assert response.headers["content-disposition"].startswith("inline")
    assert "sandbox" in response.headers["content-security-policy"]
    assert stored(client) == {f"photos/{record['image']}"}
    # the record reads back with the name, and so does a list
    listed = client.get("/api/photos").json()["items"]
    assert [item["image"] for item in listed] == [record["image"]]


def test_a_file_of_a_record_the_caller_may_not_view_is_not_found(client):
    record = create(client, public=False)
    url = f"/api/photos/{record['id']}/files/{record['image']}"
    assert client.get(url).status_code == 404
    assert client.get(url, headers=ADMIN).status_code == 200
    # a name the record does not hold, and a name that is no stored name
    other = create(client, title="other")
    assert client.get(f"/api/photos/{other['id']}/files/{record['image']}").status_code == 404
    assert client.get(f"/api/photos/{other['id']}/files/..%2F..%2Fetc").status_code == 404


def test_a_hidden_file_field_is_neither_shown_nor_served_nor_written_by_others(client):
    response = client.post(
        "/api/photos",
        data={"title": "t", "public": "true"},
        files={
            "image": ("a.png", image(), "image/png"),
            "secret": ("s.txt", b"secret", "text/plain"),
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"path": "/secret", "message": "this field is read-only"}]
    assert stored(client) == set()  # the uploads of a refused write are taken back


def test_a_signed_link_works_without_credentials_until_it_expires(client):
    record = create(client, public=False)
    name = record["image"]
    assert client.post(f"/api/photos/{record['id']}/files/{name}/link").status_code == 404
    link = client.post(
        f"/api/photos/{record['id']}/files/{name}/link?expires_in=60", headers=ADMIN
    ).json()
    assert 55 <= link["expires"] - time.time() <= 61
    response = client.get(link["url"])
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    links = client.app.store.files.links
    expired = int(time.time()) - 1
    signature = links.sign("photos", record["id"], name, expired)
    url = f"/api/photos/{record['id']}/files/{name}"
    assert client.get(f"{url}?expires={expired}&signature={signature}").status_code == 403
    later = link["expires"] + 100  # the signature of another expiry
    assert client.get(link["url"].replace(str(link["expires"]), str(later))).status_code == 403
    assert client.get(f"{url}?expires={link['expires']}&signature=k1.forged").status_code == 403
    too_long = client.post(f"{url}/link?expires_in=99999999", headers=ADMIN)
    assert too_long.status_code == 400


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("photo.exe", image(), "the name says .exe"),
        ("photo.png", PROGRAM, "but the content is application/x-msdownload"),
        ("notes.txt", b"just some text", "text/plain files are not accepted here (image/*)"),
        ("big.png", image(900, 900, "BMP"), "at most 100000 are accepted"),
        ("empty.png", b"", "the file is empty"),
        ("", b"", "this field is required"),  # a form's file input left empty: no upload
    ],
)
def test_files_are_refused_by_what_their_content_is(client, filename, content, message):
    response = client.post(
        "/api/photos",
        data={"title": "refused", "public": "true"},
        files={"image": (filename, content, "image/png")},
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["path"] == "/image"
    assert message in error["message"]
    assert stored(client) == set()


def test_a_json_body_cannot_point_a_field_at_a_file_it_did_not_upload(client):
    record = create(client)
    response = client.post("/api/photos", json={"title": "thief", "image": record["image"]})
    assert response.status_code == 422
    assert "not a file of this record" in response.json()["errors"][0]["message"]
    moved = client.patch(f"/api/photos/{record['id']}", json={"attachments": [record["image"]]})
    assert moved.status_code == 422


def test_thumbnails_are_made_once_in_the_declared_sizes(client):
    record = create(client)
    url = f"/api/photos/{record['id']}/files/{record['image']}"
    sizes = {}
    for size in ("50x50", "100x0", "40x40f"):
        response = client.get(f"{url}?thumb={size}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        sizes[size] = Image.open(io.BytesIO(response.content)).size
    assert sizes == {"50x50": (50, 50), "100x0": (100, 67), "40x40f": (40, 27)}
    thumbs = {key for key in stored(client) if "/thumbs/" in key}
    assert len(thumbs) == 3
    again = client.get(f"{url}?thumb=50x50")
    assert again.status_code == 200 and set(stored(client)) >= thumbs
    refused = client.get(f"{url}?thumb=64x64")
    assert refused.status_code == 400
    assert "50x50, 100x0, 40x40f" in refused.json()["detail"]
    text = client.patch(
        f"/api/photos/{record['id']}", files={"attachments": ("a.txt", b"text", "text/plain")}
    ).json()["attachments"][0]
    not_image = client.get(f"/api/photos/{record['id']}/files/{text}?thumb=50x50")
    assert not_image.status_code == 400


def test_multiple_files_are_added_kept_and_dropped(client):
    record = create(
        client,
        image=("a.png", image(), "image/png"),
        attachments=("one.txt", b"one", "text/plain"),
    )
    (first,) = record["attachments"]
    url = f"/api/photos/{record['id']}"
    added = client.patch(url, files=[("attachments", ("two.csv", b"a,b\n1,2", "text/csv"))])
    assert added.status_code == 200
    names = added.json()["attachments"]
    assert names[0] == first and names[1].endswith(".csv") and len(names) == 2
    download = client.get(f"{url}/files/{names[1]}")
    assert download.content == b"a,b\n1,2"
    # Not a type shown inline: an attachment, of a type no page can load as a script or style
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    too_many = client.patch(
        url, files=[("attachments", (f"{i}.txt", b"x", "text/plain")) for i in range(2)]
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["message"] == "at most 3 files"
    kept = client.patch(url, json={"attachments": [names[1]]})
    assert kept.status_code == 200 and kept.json()["attachments"] == [names[1]]
    assert f"photos/{first}" not in stored(client)
    assert f"photos/{names[1]}" in stored(client)


def test_a_replaced_file_goes_after_the_commit_and_stays_after_a_rollback(client):
    record = create(client)
    create(client, title="taken")
    old = f"photos/{record['image']}"
    url = f"/api/photos/{record['id']}"
    before = stored(client)
    # the unique title is taken: the update rolls back, its upload is taken back, the old file
    # stays
    upload = {"image": ("b.png", image(), "image/png")}
    clash = client.patch(url, data={"title": "taken"}, files=upload)
    assert clash.status_code == 409
    assert stored(client) == before
    assert client.get(f"{url}/files/{record['image']}").status_code == 200
    client.get(f"{url}/files/{record['image']}?thumb=50x50")
    replaced = client.patch(url, files={"image": ("c.png", image(), "image/png")})
    assert replaced.status_code == 200
    new = replaced.json()["image"]
    assert old not in stored(client)
    assert not any(key.endswith("/" + record["image"]) for key in stored(client))  # thumbnails
    assert f"photos/{new}" in stored(client)
    assert client.get(f"{url}/files/{record['image']}").status_code == 404
    # a required file cannot be removed
    assert client.patch(url, json={"image": None}).status_code == 422


def test_deleting_a_record_deletes_its_files_and_those_of_the_records_it_cascades_to(client):
    album = client.post("/api/albums", json={"title": "holidays"}).json()
    inside = create(client, title="in album")
    client.patch(f"/api/photos/{inside['id']}", json={"album": album["id"]})
    alone = create(client, title="alone")
    assert len(stored(client)) == 2
    refused = client.delete(f"/api/photos/{alone['id']}", headers={"If-Match": '"99"'})
    assert refused.status_code == 412 and len(stored(client)) == 2  # no commit, no deletion
    assert client.delete(f"/api/photos/{alone['id']}").status_code == 204
    assert stored(client) == {f"photos/{inside['image']}"}
    assert client.delete(f"/api/albums/{album['id']}").status_code == 204
    assert stored(client) == set()


def test_a_json_write_to_a_collection_with_files_still_works(client):
    record = create(client)
    renamed = client.patch(f"/api/photos/{record['id']}", json={"title": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["image"] == record["image"]
    odd = client.post("/api/photos", content=b"x", headers={"Content-Type": "text/plain"})
    assert odd.status_code == 415 and "multipart/form-data" in odd.json()["detail"]


def test_the_body_of_a_write_with_files_is_limited_by_the_fields_allowance(client):
    # 100 KB for the image, 3 x 10 MiB of attachments, 1 MiB of other parts (and part headers)
    huge = b"x" * (33 * 1024 * 1024)
    response = client.post(
        "/api/photos", data={"title": "huge"}, files={"attachments": ("big.bin", huge)}
    )
    assert response.status_code == 413
    assert stored(client) == set()


def test_the_openapi_document_describes_uploads_and_downloads(client):
    document = client.get("/api/openapi.json").json()
    create_body = document["paths"]["/api/photos"]["post"]["requestBody"]["content"]
    multipart = create_body["multipart/form-data"]["schema"]["properties"]
    assert multipart["image"]["format"] == "binary"
    assert multipart["attachments"]["items"]["format"] == "binary"
    assert "secret" not in multipart
    download = document["paths"]["/api/photos/{id}/files/{file}"]["get"]
    thumb = next(p for p in download["parameters"] if p["name"] == "thumb")
    assert thumb["schema"]["enum"] == ["100x0", "40x40f", "50x50"]
    assert "/api/photos/{id}/files/{file}/link" in document["paths"]
    assert "/api/albums/{id}/files/{file}" not in document["paths"]


def test_declared_routes_take_uploads_under_their_contract_names(make_client, files_settings):
    spec = declaration(files_settings)
    spec["shapes"] = {
        "photo": {
            "collection": "photos",
            "fields": {"name": "title", "picture": "image", "visible": "public"},
        }
    }
    spec["routes"] = {
        "POST /v1/photos": {
            "create": "photos",
            "request": {"shape": "photo"},
            "response": {"shape": "photo"},
        },
        "PATCH /v1/photos/{title}": {
            "update": "photos",
            "key": "title",
            "request": {"shape": "photo"},
            "response": {"shape": "photo"},
        },
    }
    client = make_client(spec)
    made = client.post(
        "/v1/photos",
        data={"name": "contract", "visible": "true"},
        files={"picture": ("c.png", image(), "image/png")},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["name"] == "contract" and body["visible"] is True
    assert f"photos/{body['picture']}" in stored(client)
    replaced = client.patch(
        "/v1/photos/contract", files={"picture": ("d.png", image(20, 20), "image/png")}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["picture"] != body["picture"]
    assert f"photos/{body['picture']}" not in stored(client)
    refused = client.post(
        "/v1/photos", data={"name": "bad"}, files={"picture": ("x.png", PROGRAM, "image/png")}
    )
    assert refused.status_code in (400, 422)
    outside = client.post(
        "/v1/photos",
        data={"name": "outside", "visible": "true"},
        files={
            "picture": ("e.png", image(), "image/png"),
            "attachments": ("a.txt", b"not in the contract", "text/plain"),
        },
    )
    assert outside.status_code in (400, 422)
    assert stored(client) == {f"photos/{replaced.json()['picture']}"}


def test_graphql_reads_file_fields_as_their_stored_names(client):
    record = create(
        client,
        image=("g.png", image(), "image/png"),
        attachments=("a.txt", b"a", "text/plain"),
    )
    answer = client.post(
        "/graphql", json={"query": "{ photos { items { id image attachments } } }"}
    ).json()
    assert answer == {
        "data": {
            "photos": {
                "items": [
                    {
                        "id": record["id"],
                        "image": record["image"],
                        "attachments": record["attachments"],
                    }
                ]
            }
        }
    }


def test_prune_finds_only_files_no_record_holds(client):
    record = create(client)
    client.get(f"/api/photos/{record['id']}/files/{record['image']}?thumb=50x50")
    service = client.app.store.files
    service.storage.put("photos/left-behind_abcdefghij.png", io.BytesIO(image()), "image/png")
    found = set(orphans(client.app.store, service, older_than=0))
    assert found == {"photos/left-behind_abcdefghij.png"}
    assert set(orphans(client.app.store, service, older_than=3600)) == set()  # too young


def test_a_failing_after_commit_hook_leaves_the_committed_record_its_files(client):
    hooks = client.app.store.hooks

    @hooks.after_commit_create("photos")
    @hooks.after_commit_update("photos")
    def fails(ctx):
        raise RuntimeError("a follow-up failed after the commit")

    response = client.post(
        "/api/photos",
        data={"title": "kept", "public": "true"},
        files={"image": ("k.png", image(), "image/png")},
    )
    assert response.status_code == 500  # the follow-up failed; the write itself committed
    (record,) = client.get("/api/photos", params={"filter": 'title = "kept"'}).json()["items"]
    assert stored(client) == {f"photos/{record['image']}"}
    url = f"/api/photos/{record['id']}"
    assert client.get(f"{url}/files/{record['image']}").status_code == 200
    replaced = client.patch(url, files={"image": ("n.png", image(), "image/png")})
    assert replaced.status_code == 500
    (after,) = client.get("/api/photos", params={"filter": 'title = "kept"'}).json()["items"]
    # the committed replacement holds its new file; the old one went as the commit decided
    assert after["image"] != record["image"]
    assert stored(client) == {f"photos/{after['image']}"}


def test_nothing_is_stored_for_a_caller_who_may_not_write(make_client, files_settings, monkeypatch):
    spec = declaration(files_settings)
    spec["collections"]["photos"]["rules"]["create"] = "auth.id != null"
    spec["collections"]["photos"]["rules"]["update"] = "auth.id != null"
    client = make_client(spec)
    service = client.app.store.files
    staged = []
    stage = service.stage
    monkeypatch.setattr(service, "stage", lambda *args: staged.append(args) or stage(*args))
    upload = {"image": ("a.png", image(), "image/png")}
    refused = client.post("/api/photos", data={"title": "anonymous"}, files=upload)
    assert refused.status_code == 403
    refused = client.patch("/api/photos/aaaaaaaaaaaaaaa", files=upload)
    assert refused.status_code == 403
    assert staged == []  # refused before any upload was stored, not stored and taken back
    made = client.post("/api/photos", data={"title": "by an admin"}, files=upload, headers=ADMIN)
    assert made.status_code == 201 and len(staged) == 1


def test_thumbnails_of_hostile_or_unusual_images_answer_clearly(client):
    # PNGs whose headers claim 8000 x 8000 and 20000 x 20000 pixels: refused before anything
    # is decoded (the second by Pillow's own guard).
    for side in (8000, 20000):
        chunk = b"IHDR" + struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
        bomb = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk
        bomb += struct.pack(">I", zlib.crc32(chunk)) + b"\x00\x00\x00\x00IEND\xaeB`\x82"
        record = create(client, title=f"bomb {side}", image=("bomb.png", bomb, "image/png"))
        refused = client.get(f"/api/photos/{record['id']}/files/{record['image']}?thumb=50x50")
        assert refused.status_code == 400 and "too large" in refused.json()["detail"]
    # A 32-bit greyscale TIFF: Pillow cannot write that mode as PNG until it is converted.
    buffer = io.BytesIO()
    Image.new("I", (64, 48), 1000).save(buffer, "TIFF")
    tiff = create(client, title="tiff", image=("depth.tif", buffer.getvalue(), "image/tiff"))
    thumb = client.get(f"/api/photos/{tiff['id']}/files/{tiff['image']}?thumb=50x50")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(thumb.content)).size == (50, 50)


def test_multipart_bodies_drop_files_with_null_and_empty_lists(client):
    record = create(
        client,
        image=("a.png", image(), "image/png"),
        attachments=("one.txt", b"one", "text/plain"),
    )
    url = f"/api/photos/{record['id']}"
    cleared = client.patch(
        url, data={"attachments": "[]"}, files={"image": ("b.png", image(), "image/png")}
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["attachments"] == []
    assert stored(client) == {f"photos/{cleared.json()['image']}"}
    required = client.patch(
        url, data={"image": "null"}, files={"attachments": ("c.txt", b"c", "text/plain")}
    )
    assert required.status_code == 422  # a required file cannot be dropped


def test_a_required_multiple_field_keeps_at_least_one_file(make_client, files_settings):
    spec = declaration(files_settings)
    fields = spec["collections"]["photos"]["fields"]
    fields["attachments"] = {"type": "file", "multiple": True, "required": True}
    client = make_client(spec)
    record = create(
        client,
        image=("a.png", image(), "image/png"),
        attachments=("one.txt", b"one", "text/plain"),
    )
    emptied = client.patch(f"/api/photos/{record['id']}", json={"attachments": []})
    assert emptied.status_code == 422
    assert emptied.json()["errors"] == [
        {"path": "/attachments", "message": "this field is required"}
    ]


def test_a_signature_of_any_characters_is_refused_not_crashed_on(client):
    record = create(client)
    url = f"/api/photos/{record['id']}/files/{record['image']}"
    for signature in ("%07%40%F2%AB", "k%C3%BC.x", "%C3%BC%F2%83.%C3%B5", ""):
        response = client.get(f"{url}?expires=9999999999&signature={signature}")
        assert response.status_code == 403, (signature, response.text)


IMPORT_HOOKS = """
from backforge.hooks import Endpoints

endpoints = Endpoints()


@endpoints.post("/import", body="multipart", status=201)
def import_photo(ctx):
    (picture,) = ctx.files["picture"]
    made = ctx.store.create(
        "photos",
        {"title": ctx.body["title"], "public": True},
        files={"image": picture, "attachments": [("notes.txt", b"made in Python")]},
    )
    if ctx.body.get("then") == "fail":
        raise RuntimeError("the endpoint fails after the write: its transaction rolls back")
    return made
"""


def test_python_hands_files_to_the_store_with_the_same_checks(
    make_client, files_settings, tmp_path
):
    import json

    (tmp_path / "import_hooks.py").write_text(IMPORT_HOOKS)
    spec = {**declaration(files_settings), "hooks": "import_hooks.py"}
    path = tmp_path / "album.yaml"
    path.write_text(json.dumps(spec))
    client = make_client(path)
    made = client.post(
        "/import", data={"title": "imported"}, files={"picture": ("p.png", image(), "image/png")}
    )
    assert made.status_code == 201, made.text
    record = made.json()
    assert record["image"].endswith(".png") and record["attachments"][0].startswith("notes_")
    assert stored(client) == {f"photos/{record['image']}", f"photos/{record['attachments'][0]}"}
    # Refused as an upload would be: a program as the image; nothing is kept.
    refused = client.post(
        "/import", data={"title": "bad"}, files={"picture": ("p.png", PROGRAM, "image/png")}
    )
    assert refused.status_code == 422
    # The endpoint's transaction rolls back after the write: its files go with it.
    failed = client.post(
        "/import",
        data={"title": "rolled back", "then": "fail"},
        files={"picture": ("p.png", image(), "image/png")},
    )
    assert failed.status_code == 500
    assert len(stored(client)) == 2
    assert (
        client.get("/api/photos", params={"filter": 'title = "rolled back"'}).json()["items"] == []
    )
