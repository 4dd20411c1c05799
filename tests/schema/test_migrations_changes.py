"""Each kind of declaration change, planned against a live database and applied, data kept."""

from __future__ import annotations

from decimal import Decimal

import pytest
from migration_helpers import shop
from sqlalchemy.exc import IntegrityError

from backforge.schema.migrations import DestructiveChangeError, MigrationRefusedError
from backforge.spec import load_dict
from backforge.store.caller import Caller
from backforge.store.records import RecordStore


@pytest.fixture
def stocked(migrator):
    """The shop, migrated, with a category and two products."""
    migrator.migrate(shop())
    migrator.insert("categories", id="c1", name="books")
    migrator.insert(
        "products", id="p1", name="Atlas", price=Decimal("9.50"), status="draft", category="c1"
    )
    migrator.insert("products", id="p2", name="Bible", status="live", category="c1")
    return migrator


def test_add_optional_column(stocked):
    declaration = shop()
    declaration["collections"]["products"]["fields"]["sku"] = {"type": "text", "index": True}
    plan = stocked.migrate(declaration)
    assert [(c.op, c.column) for c in plan.changes if c.op != "rebuild_table"] == [
        ("add_column", "sku"),
        ("add_index", None),
    ]
    assert not plan.destructive
    assert "sku" in stocked.columns("products")
    assert stocked.select("products", "id", "sku") == [("p1", None), ("p2", None)]
    assert stocked.plan(declaration) is None


def test_add_required_column_with_default_fills_existing_rows(stocked):
    declaration = shop()
    declaration["collections"]["products"]["fields"]["stock"] = {
        "type": "int",
        "required": True,
        "default": 5,
    }
    plan = stocked.migrate(declaration)
    (change,) = [c for c in plan.changes if c.op == "add_column"]
    assert "existing rows get 5" in change.description
    assert stocked.select("products", "id", "stock") == [("p1", 5), ("p2", 5)]
    # required is enforced by the database from now on
    with pytest.raises(IntegrityError):
        stocked.insert("products", id="p3", name="Cook", stock=None)
    assert stocked.plan(declaration) is None


def test_add_required_column_without_default_is_refused_when_rows_exist(stocked):
    declaration = shop()
    declaration["collections"]["products"]["fields"]["sku"] = {"type": "text", "required": True}
    with pytest.raises(MigrationRefusedError, match=r"products.sku is required .* default"):
        stocked.plan(declaration)
    assert sorted(p.name for p in stocked.directory.iterdir()) == [
        "0001_create_categories_products.yaml"
    ]


def test_add_required_column_without_default_to_an_empty_table(migrator):
    migrator.migrate(shop())
    declaration = shop()
    declaration["collections"]["products"]["fields"]["sku"] = {"type": "text", "required": True}
    migrator.migrate(declaration)
    assert "sku" in migrator.columns("products")


def test_rename_field_keeps_values(stocked):
    declaration = shop()
    fields = declaration["collections"]["products"]["fields"]
    fields["title"] = {**fields.pop("name"), "renamed_from": "name"}
    plan = stocked.migrate(declaration)
    ops = {c.op for c in plan.changes}
    assert "rename_column" in ops
    assert not ops & {"add_column", "drop_column"}
    assert not plan.destructive
    assert stocked.select("products", "id", "title") == [
        ("p1", "Atlas"),
        ("p2", "Bible"),
    ]
    assert "name" not in stocked.columns("products")
    assert stocked.plan(declaration) is None  # renamed_from stays declared: no further change


def test_rename_collection_keeps_rows_and_relations(stocked):
    declaration = shop()
    collections = declaration["collections"]
    collections["genres"] = {**collections.pop("categories"), "renamed_from": "categories"}
    collections["products"]["fields"]["category"]["to"] = "genres"
    plan = stocked.migrate(declaration)
    ops = {c.op for c in plan.changes}
    assert "rename_table" in ops
    assert not ops & {"create_table", "drop_table"}
    assert not plan.destructive
    assert "categories" not in stocked.tables()
    assert stocked.rows("SELECT id, name FROM genres") == [("c1", "books")]
    assert stocked.rows(
        "SELECT p.id, g.name FROM products p JOIN genres g ON g.id = p.category ORDER BY p.id"
    ) == [("p1", "books"), ("p2", "books")]
    # the relation still holds: a product cannot point at a missing genre
    with pytest.raises(IntegrityError):
        stocked.insert("products", id="p3", name="Cook", category="nope")
    assert stocked.plan(declaration) is None


def test_rename_collection_and_its_fields_together(stocked):
    declaration = shop()
    collections = declaration["collections"]
    items = collections.pop("products")
    items["renamed_from"] = "products"
    items["fields"]["title"] = {**items["fields"].pop("name"), "renamed_from": "name"}
    collections["items"] = items
    stocked.migrate(declaration)
    assert stocked.select("items", "id", "title", "status") == [
        ("p1", "Atlas", "draft"),
        ("p2", "Bible", "live"),
    ]
    assert stocked.plan(declaration) is None


def test_drop_field_is_refused_without_allow_destructive(stocked):
    declaration = shop()
    del declaration["collections"]["products"]["fields"]["price"]
    with pytest.raises(DestructiveChangeError, match=r"DROP field products.price") as info:
        stocked.plan(declaration)
    assert "--allow-destructive" in str(info.value)
    assert "price" in stocked.columns("products")
    plan = stocked.migrate(declaration, allow_destructive=True)
    assert plan.destructive and plan.allow_destructive
    assert "allow_destructive: true" in plan.path.read_text()
    assert "price" not in stocked.columns("products")
    assert stocked.select("products", "id", "name") == [
        ("p1", "Atlas"),
        ("p2", "Bible"),
    ]


def test_drop_collection_is_refused_without_allow_destructive(stocked):
    declaration = shop()
    declaration["collections"]["tags"] = {"fields": {"label": {"type": "text"}}}
    stocked.migrate(declaration)
    del declaration["collections"]["tags"]
    with pytest.raises(DestructiveChangeError, match="DROP collection tags"):
        stocked.plan(declaration)
    stocked.migrate(declaration, allow_destructive=True)
    assert "tags" not in stocked.tables()


def test_select_value_added_is_accepted_by_the_database(stocked):
    declaration = shop()
    declaration["collections"]["products"]["fields"]["status"]["values"] = [
        "draft",
        "live",
        "archived",
    ]
    plan = stocked.migrate(declaration)
    assert not plan.destructive
    with pytest.raises(IntegrityError):
        stocked.insert("products", id="p3", name="Cook", status="gone")
    stocked.insert("products", id="p3", name="Cook", status="archived")
    assert stocked.rows("SELECT status FROM products WHERE id = 'p3'") == [("archived",)]
    assert stocked.plan(declaration) is None


def test_select_value_removed_is_destructive(stocked):
    declaration = shop()
    declaration["collections"]["products"]["fields"]["status"]["values"] = ["draft", "sold"]
    with pytest.raises(DestructiveChangeError, match=r"REMOVE \['live'\]"):
        stocked.plan(declaration)
    stocked.migrate(declaration, allow_destructive=True)
    # the row that held the removed value falls back to the field's default
    assert stocked.select("products", "id", "status") == [
        ("p1", "draft"),
        ("p2", "draft"),
    ]
    with pytest.raises(IntegrityError):
        stocked.insert("products", id="p3", name="Cook", status="live")
    stocked.insert("products", id="p3", name="Cook", status="sold")


def test_narrowing_a_type_is_destructive(stocked):
    declaration = shop()
    declaration["collections"]["products"]["fields"]["price"] = {
        "type": "decimal",
        "max_digits": 6,
        "decimal_places": 1,
    }
    with pytest.raises(DestructiveChangeError, match="NARROWING"):
        stocked.plan(declaration)


def test_widening_a_type_is_not_destructive(stocked):
    declaration = shop()
    declaration["collections"]["products"]["fields"]["price"] = {
        "type": "decimal",
        "max_digits": 20,
        "decimal_places": 3,
    }
    plan = stocked.migrate(declaration)
    assert [c.op for c in plan.changes if c.op != "rebuild_table"] == ["change_type"]
    assert stocked.select("products", "price")[0] == (Decimal("9.500"),)
    assert stocked.plan(declaration) is None


def test_making_a_field_required_fills_with_its_default(stocked):
    declaration = shop()
    declaration["collections"]["products"]["fields"]["price"] = {
        "type": "decimal",
        "required": True,
        "default": 1,
    }
    stocked.migrate(declaration)
    assert stocked.select("products", "id", "price") == [
        ("p1", Decimal("9.50")),
        ("p2", Decimal("1.00")),
    ]
    assert stocked.plan(declaration) is None


def test_making_a_field_required_without_default_is_refused_when_values_are_missing(stocked):
    declaration = shop()
    declaration["collections"]["products"]["fields"]["price"]["required"] = True
    with pytest.raises(MigrationRefusedError, match=r"1 row\(s\) have no value"):
        stocked.plan(declaration)


def test_unique_and_index_added_and_removed(stocked):
    declaration = shop()
    fields = declaration["collections"]["products"]["fields"]
    fields["name"]["unique"] = True
    declaration["collections"]["products"]["indexes"] = [["status", "price"]]
    stocked.migrate(declaration)
    with pytest.raises(IntegrityError):
        stocked.insert("products", id="p3", name="Atlas")
    assert stocked.plan(declaration) is None
    fields["name"]["unique"] = False
    declaration["collections"]["products"]["indexes"] = []
    plan = stocked.migrate(declaration)
    assert {"drop_unique", "drop_index"} <= {c.op for c in plan.changes}
    stocked.insert("products", id="p3", name="Atlas")
    assert stocked.plan(declaration) is None


def test_drop_collections_that_refer_to_each_other(stocked):
    declaration = shop()
    collections = declaration["collections"]
    collections["authors"] = {"fields": {"name": {"type": "text"}}}
    collections["books"] = {"fields": {"author": {"type": "relation", "to": "authors"}}}
    collections["reviews"] = {"fields": {"book": {"type": "relation", "to": "books"}}}
    stocked.migrate(declaration)
    stocked.insert("authors", id="a1", name="Ann")
    stocked.insert("books", id="b1", author="a1")
    stocked.insert("reviews", id="r1", book="b1")
    plan = stocked.migrate(shop(), allow_destructive=True)
    assert [c.table for c in plan.changes if c.op == "drop_table"] == [
        "reviews",
        "books",
        "authors",
    ]
    assert not {"authors", "books", "reviews"} & stocked.tables()


def test_many_changes_to_one_collection_at_once(stocked):
    declaration = shop()
    collections = declaration["collections"]
    items = collections.pop("products")
    items["renamed_from"] = "products"
    fields = items["fields"]
    fields["title"] = {**fields.pop("name"), "renamed_from": "name", "unique": True}
    fields["cost"] = {
        "type": "decimal",
        "max_digits": 20,
        "decimal_places": 2,
        "required": True,
        "default": 0,
        "renamed_from": "price",
    }
    del fields["price"]
    fields["status"]["values"] = ["draft", "live", "sold"]
    fields["note"] = {"type": "text", "default": "none"}
    items["indexes"] = [["title", "cost"]]
    collections["items"] = items
    plan = stocked.migrate(declaration)
    assert not plan.destructive
    assert stocked.select("items", "id", "title", "cost", "status", "note", "category") == [
        ("p1", "Atlas", Decimal("9.50"), "draft", "none", "c1"),
        ("p2", "Bible", Decimal("0.00"), "live", "none", "c1"),
    ]
    assert stocked.plan(declaration) is None
    with pytest.raises(IntegrityError):
        stocked.insert("items", id="p3", title="Atlas", cost=1)


def test_a_serial_field_added_numbers_the_rows_there_and_counts_on_from_them(stocked):
    declaration = shop()
    declaration["collections"]["products"]["fields"]["number"] = {
        "type": "int",
        "serial": True,
        "unique": True,
        "required": True,
    }
    plan = stocked.migrate(declaration)
    (change,) = [c for c in plan.changes if c.op == "number_rows"]
    assert "in the order they were made" in change.description
    assert stocked.select("products", "id", "number") == [("p1", 1), ("p2", 2)]
    assert stocked.plan(declaration) is None
    store = RecordStore(load_dict(declaration), stocked.engine)
    made = store.create("products", Caller(is_admin=True), {"name": "Cook"})
    assert made["number"] == 3
