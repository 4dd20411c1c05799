"""`backforge import openapi`: a draft declaration from an OpenAPI 3 document that passes
`check`, serves the document's operations, and lists what it could not map."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from backforge.importer.openapi import draft_from_openapi, plural, snake

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# The classic Petstore (OpenAPI 3.0), as its authors publish it: written by no one here.
PETSTORE = {
    "openapi": "3.0.0",
    "info": {"version": "1.0.0", "title": "Swagger Petstore", "license": {"name": "MIT"}},
    "servers": [{"url": "http://petstore.swagger.io/v1"}],
    "paths": {
        "/pets": {
            "get": {
                "summary": "List all pets",
                "operationId": "listPets",
                "tags": ["pets"],
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "description": "How many items to return at one time (max 100)",
                        "required": False,
                        "schema": {"type": "integer", "maximum": 100, "format": "int32"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "A paged array of pets",
                        "headers": {"x-next": {"schema": {"type": "string"}}},
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Pets"}}
                        },
                    },
                    "default": {
                        "description": "unexpected error",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                },
            },
            "post": {
                "summary": "Create a pet",
                "operationId": "createPets",
                "tags": ["pets"],
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                    },
                    "required": True,
                },
                "responses": {"201": {"description": "Null response"}},
            },
        },
        "/pets/{petId}": {
            "get": {
                "summary": "Info for a specific pet",
                "operationId": "showPetById",
                "tags": ["pets"],
                "parameters": [
                    {
                        "name": "petId",
                        "in": "path",
                        "required": True,
                        "description": "The id of the pet to retrieve",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "Expected response to a valid request",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                        },
                    }
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Pet": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {
                    "id": {"type": "integer", "format": "int64"},
                    "name": {"type": "string"},
                    "tag": {"type": "string"},
                },
            },
            "Pets": {
                "type": "array",
                "maxItems": 100,
                "items": {"$ref": "#/components/schemas/Pet"},
            },
            "Error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "integer", "format": "int32"},
                    "message": {"type": "string"},
                },
            },
        }
    },
}


def test_names_become_fields_and_collections():
    assert snake("createdAt") == "created_at" and snake("tagList") == "tag_list"
    assert snake("2fa") == "f_2fa"
    assert (
        plural("Pet") == "pets" and plural("Category") == "categories" and plural("news") == "news"
    )


def test_the_petstore_drafts_a_declaration_that_serves_it(make_client, admin):
    draft = draft_from_openapi(PETSTORE, "petstore")
    declaration = draft.declaration
    assert set(declaration["collections"]) == {"pets"}
    pets = declaration["collections"]["pets"]
    # The document's integer ids: a serial number, shown as id.
    assert pets["fields"] == {
        "number": {"type": "int", "serial": True, "unique": True},
        "name": {"type": "text", "required": True},
        "tag": {"type": "text"},
    }
    routes = declaration["routes"]
    assert routes["GET /pets"]["list"] == "pets"
    assert routes["GET /pets"]["paging"] == {"style": "offset"}
    assert routes["POST /pets"]["create"] == "pets"
    assert routes["GET /pets/{petId}"] == {
        "get": "pets",
        "key": "number",
        "key_param": "petId",  # the contract's name stays
        "response": {"shape": "pet"},
        "summary": "Info for a specific pet",
    }
    client = make_client(declaration)
    created = client.post("/pets", json={"name": "Rex", "tag": "dog"}, headers=admin)
    assert created.status_code == 201, created.text
    pet = created.json()
    assert pet == {"id": 1, "name": "Rex", "tag": "dog"}
    assert client.get("/pets").json() == [pet]
    assert client.get(f"/pets/{pet['id']}").json() == pet
    assert "/pets/{petId}" in client.get("/api/openapi.json").json()["paths"]
    assert client.get("/pets", params={"limit": "0"}).status_code == 400
    # Deny by default: creating needs a caller, and nothing else was guessed open.
    assert client.post("/pets", json={"name": "Tom"}).status_code == 403


def test_a_contracts_own_document_drafts_a_checked_declaration_and_names_the_rest(tmp_path):
    document = tmp_path / "conduit.json"
    served = subprocess.run(
        [sys.executable, "-m", "backforge", "openapi", str(EXAMPLES / "conduit.yaml")],
        capture_output=True,
        text=True,
        check=True,
    )
    document.write_text(served.stdout)
    draft_path = tmp_path / "draft.yaml"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "backforge",
            "import",
            "openapi",
            str(document),
            "-o",
            str(draft_path),
        ],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    text = draft_path.read_text()
    assert text.startswith("# Drafted by `backforge import openapi`")
    assert "#   - POST /api/articles/{slug}/favorite: an action below {slug}" in text
    assert "not mapped:" in made.stderr
    checked = subprocess.run(
        [sys.executable, "-m", "backforge", "check", str(draft_path)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    draft = draft_from_openapi(json.loads(document.read_text()), "conduit")
    routes = draft.declaration["routes"]
    assert routes["GET /api/articles/{slug}"]["key"] == "slug"
    assert routes["GET /api/articles"]["response"] == {
        "shape": "article",
        "envelope": "articles",
        "count": "articlesCount",
    }
    assert routes["POST /api/users/login"]["login"] == "users"
    assert routes["GET /api/user"]["me"] == "users"
    assert draft.declaration["shapes"]["user"]["fields"]["token"] == "session.access_token"


def test_a_file_that_is_not_openapi_is_refused(tmp_path):
    not_openapi = tmp_path / "x.yaml"
    not_openapi.write_text("name: shop\ncollections: {}\n")
    refused = subprocess.run(
        [sys.executable, "-m", "backforge", "import", "openapi", str(not_openapi)],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1
    assert "not an OpenAPI 3 document" in refused.stderr


def test_defaults_read_only_fields_and_plain_lists_survive_the_draft():
    todo = {
        "type": "object",
        "required": ["title", "completed", "url"],
        "properties": {
            "title": {"type": "string"},
            "completed": {"type": "boolean", "default": False},
            "order": {"type": "integer"},
            "url": {"type": "string", "format": "uri", "readOnly": True},
        },
    }
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Todo-Backend", "version": "1"},
        "paths": {
            "/todos": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "all",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Todo"},
                                    }
                                }
                            },
                        }
                    }
                }
            },
            "/todos/{todoId}": {
                "delete": {
                    "parameters": [
                        {
                            "name": "todoId",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"204": {"description": "gone"}},
                }
            },
        },
        "components": {"schemas": {"Todo": todo}},
    }
    draft = draft_from_openapi(document, "9-not-a-name")
    declaration = draft.declaration
    assert declaration["name"] == "todo-backend"
    fields = declaration["collections"]["todos"]["fields"]
    assert fields["completed"] == {"type": "bool", "default": False}
    assert fields["url"] == {"type": "url", "readonly": True}
    assert fields["title"] == {"type": "text", "required": True}
    assert declaration["routes"]["GET /todos"]["paging"] == {"style": "none"}
    assert declaration["routes"]["DELETE /todos/{todoId}"] == {
        "delete": "todos",
        "key": "id",
        "key_param": "todoId",
    }
    assert any("who may delete todos" in line for line in draft.unmapped)


def test_references_broken_fields_and_odd_nodes_are_followed_or_left_out_and_listed():
    """$ref'd parameters, responses and bodies are followed; a schema made of itself is cut
    off; fields the declaration would refuse are left out (and from the shapes) and listed."""
    thing = {"$ref": "#/components/schemas/Thing"}
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Odd", "version": "1"},
        "paths": {
            "/things": {
                "get": {"responses": {"200": {"$ref": "#/components/responses/Things"}}},
                "post": {
                    "requestBody": {"$ref": "#/components/requestBodies/Thing"},
                    "responses": {"201": "not an object"},
                },
            },
            "/things/{thingId}": {
                "get": {
                    "parameters": [{"$ref": "#/components/parameters/ThingId"}],
                    "responses": {
                        "200": {
                            "description": "one",
                            "content": {"application/json": {"schema": thing}},
                        }
                    },
                }
            },
        },
        "components": {
            "parameters": {
                "ThingId": {"name": "thingId", "in": "path", "required": True, "schema": {}}
            },
            "responses": {
                "Things": {
                    "description": "all",
                    "content": {"application/json": {"schema": {"type": "array", "items": thing}}},
                }
            },
            "requestBodies": {"Thing": {"content": {"application/json": {"schema": thing}}}},
            "schemas": {
                "Thing": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "pattern": "(unclosed"},
                        "size": {"type": "integer", "minimum": 10, "maximum": 1},
                        "label": {"type": "string"},
                        "loop": {"$ref": "#/components/schemas/Loop"},
                    },
                },
                "Loop": {"allOf": [{"$ref": "#/components/schemas/Loop"}]},
            },
        },
    }
    draft = draft_from_openapi(document, "odd")
    declaration = draft.declaration
    assert set(declaration["collections"]["things"]["fields"]) == {"label", "loop"}
    assert declaration["shapes"]["thing"]["fields"] == {"label": "label", "loop": "loop"}
    assert declaration["routes"]["GET /things/{thingId}"]["key_param"] == "thingId"
    assert declaration["routes"]["GET /things"]["list"] == "things"
    assert any(
        line.startswith("things.name: invalid regular expression") for line in draft.unmapped
    )
    assert any(line.startswith("things.size: min is greater than max") for line in draft.unmapped)
