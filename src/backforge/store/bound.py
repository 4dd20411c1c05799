"""The store as hooks, custom endpoints and jobs see it: bound to the request's transaction and
to a caller, whose rules apply as over HTTP (`ctx.store`), or to the system (`ctx.system`).

Filters take their values as bound parameters, never spliced into the text:

    ctx.store.list("posts", filter="owner = params.owner && views > params.least",
                   params={"owner": owner, "least": 10})
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from ..rules import ExpressionError, parse
from .caller import Caller
from .errors import InvalidQuery
from .file_values import GivenFiles, stage_given
from .listing import ListRequest

if TYPE_CHECKING:
    from .records import Narrowing, Page, RecordStore

Aggregate = Literal["count", "sum", "avg", "min", "max"]
# A page of `list` holds at most this many records; `all` goes through every page.
MAX_PAGE = 1000


class BoundStore:
    """Record operations inside the current transaction, as a given caller."""

    def __init__(self, store: RecordStore, caller: Caller):
        self._store = store
        self.caller = caller

    # -- reading ---------------------------------------------------------------------------

    def get(
        self,
        collection: str,
        record_id: str,
        lock: bool = False,
        expand: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """One record by id (NotFound when the caller may not view it). `lock=True` holds the
        row until the transaction ends (SELECT ... FOR UPDATE on PostgreSQL; SQLite's write
        transaction already excludes other writers)."""
        return self._store.get(collection, self.caller, record_id, expand=expand, lock=lock)

    def find(
        self,
        collection: str,
        filter: str | None = None,
        params: Mapping[str, Any] | None = None,
        **equal: Any,
    ) -> dict[str, Any] | None:
        """The first record by unique fields (`find("users", username=name)`) or a filter, as
        the caller may view it; None when there is none."""
        conditions = [f"{name} = params.{name}" for name in equal]
        text = " && ".join(f"({c})" for c in [*conditions, *([filter] if filter else [])])
        if not text:
            raise InvalidQuery("find needs a filter or field=value", "filter")
        narrowing = _narrowing(text, {**(params or {}), **equal})
        return self._store.find(collection, self.caller, narrowing)

    def page(
        self,
        collection: str,
        filter: str | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        sort: str | None = None,
        limit: int = 200,
        offset: int | None = None,
        cursor: str | None = None,
        total: bool = False,
        expand: tuple[str, ...] = (),
    ) -> Page:
        """A page: `items`, `next_cursor` (None after the last page) and `total` when asked.
        Page by `cursor` (stable under inserts) or by `offset`."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidQuery(f"limit is 1 to {MAX_PAGE}", "limit")
        if offset is not None and cursor is not None:
            raise InvalidQuery("page by offset or by cursor, not both", "offset")
        if offset is not None and offset < 0:
            raise InvalidQuery("offset is 0 or more", "offset")
        request = ListRequest(
            sort=sort, limit=limit, cursor=cursor, offset=offset, total=total, expand=expand
        )
        narrowing = _narrowing(filter, params) if filter else None
        return self._store.list(collection, self.caller, request, narrowing=narrowing)

    def list(
        self,
        collection: str,
        filter: str | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        sort: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """The records of the first page (at most `limit`; `all` reads every one)."""
        return self.page(collection, filter, params, sort=sort, limit=limit).items

    def all(
        self,
        collection: str,
        filter: str | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        sort: str | None = None,
        page_size: int = 200,
    ) -> Iterator[dict[str, Any]]:
        """Every matching record, a page at a time (keyset paging: none is read twice)."""
        cursor = None
        while True:
            page = self.page(collection, filter, params, sort=sort, limit=page_size, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def count(
        self, collection: str, filter: str | None = None, params: Mapping[str, Any] | None = None
    ) -> int:
        """How many records the caller may list match."""
        return int(self.aggregate(collection, "count", None, filter, params) or 0)

    def aggregate(
        self,
        collection: str,
        function: Aggregate,
        field: str | None,
        filter: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """count, sum, avg, min or max of a field over the records the caller may list (None
        over no record, except count)."""
        narrowing = _narrowing(filter, params) if filter else None
        return self._store.aggregate(collection, self.caller, function, field, narrowing)

    # -- writing ---------------------------------------------------------------------------

    def create(
        self, collection: str, values: Mapping[str, Any], files: GivenFiles | None = None
    ) -> dict[str, Any]:
        """`files`: for file fields, by field name, a file of `ctx.files` or a
        `(filename, bytes or binary file)` pair, or a list of them; checked and stored as an
        upload is, and taken back if the write does not happen."""
        uploads = stage_given(self._store, collection, "create", self.caller, files)
        return self._store.create(collection, self.caller, values, uploads=uploads)

    def update(
        self,
        collection: str,
        record_id: str,
        values: Mapping[str, Any],
        files: GivenFiles | None = None,
    ) -> dict[str, Any]:
        uploads = stage_given(self._store, collection, "update", self.caller, files)
        return self._store.update(collection, self.caller, record_id, values, uploads=uploads)

    def increment(
        self, collection: str, record_id: str, field: str, by: int | float = 1
    ) -> dict[str, Any]:
        """Add `by` (negative: subtract) to a number field in one statement, under the update
        rule; a result past the field's min or max is refused (422) and nothing changes."""
        return self._store.increment(collection, self.caller, record_id, field, by)

    def delete(self, collection: str, record_id: str) -> None:
        self._store.delete(collection, self.caller, record_id)


def _narrowing(text: str, params: Mapping[str, Any] | None) -> Narrowing:
    """A filter parsed once per text and parameter names; values bound per call."""
    from .records import Narrowing

    values = dict(params or {})
    try:
        node = parse(text)
    except ExpressionError as exc:
        raise InvalidQuery(f"invalid filter: {exc.message}", "filter", exc.position) from None
    return Narrowing(("code", text, tuple(sorted(values))), (node,), values)
