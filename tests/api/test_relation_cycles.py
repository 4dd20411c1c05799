"""Records of collections that refer to each other (issue 25), on a database that migrations
made: a user in a team that the user owns, a user managed by another."""

from __future__ import annotations

import warnings

from sqlalchemy.exc import SAWarning

from backforge.database import create_database_engine
from backforge.schema.migrations import apply_migrations, plan_migration
from backforge.spec import load_dict

ORG = {
    "name": "org",
    "collections": {
        "users": {
            "fields": {
                "name": {"type": "text", "required": True},
                "team": {"type": "relation", "to": "teams"},
                "manager": {"type": "relation", "to": "users", "on_delete": "set null"},
            },
            "rules": {"list": "public", "view": "public"},
        },
        "teams": {
            "fields": {
                "name": {"type": "text", "required": True},
                "owner": {"type": "relation", "to": "users", "required": True},
            },
            "rules": {"list": "public", "view": "public"},
        },
    },
}


def test_records_refer_to_each_other_through_a_cycle(make_client, db_url, tmp_path, admin):
    engine = create_database_engine(db_url)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", SAWarning)
            plan_migration(engine, load_dict(ORG), tmp_path / "migrations")
            apply_migrations(engine, tmp_path / "migrations")
    finally:
        engine.dispose()
    client = make_client(ORG)

    def create(collection, body):
        response = client.post(f"/api/{collection}", json=body, headers=admin)
        assert response.status_code == 201, response.text
        return response.json()

    ann = create("users", {"name": "Ann"})
    team = create("teams", {"name": "Maps", "owner": ann["id"]})
    joined = client.patch(f"/api/users/{ann['id']}", json={"team": team["id"]}, headers=admin)
    assert joined.status_code == 200 and joined.json()["team"] == team["id"]
    bob = create("users", {"name": "Bob", "team": team["id"], "manager": ann["id"]})

    listed = client.get("/api/users", params={"expand": "team,manager", "sort": "name"}).json()
    by_name = {user["name"]: user for user in listed["items"]}
    assert by_name["Bob"]["expand"]["manager"]["name"] == "Ann"
    assert by_name["Ann"]["expand"]["team"]["owner"] == ann["id"]
    owned = client.get("/api/teams", params={"filter": 'owner.name = "Ann"'}).json()["items"]
    assert [t["id"] for t in owned] == [team["id"]]

    # The foreign keys hold in both directions.
    nowhere = client.post("/api/teams", json={"name": "X", "owner": "a" * 15}, headers=admin)
    assert nowhere.status_code == 422
    assert client.delete(f"/api/teams/{team['id']}", headers=admin).status_code == 409
    assert client.delete(f"/api/users/{ann['id']}", headers=admin).status_code == 409
    assert client.delete(f"/api/users/{bob['id']}", headers=admin).status_code == 204
