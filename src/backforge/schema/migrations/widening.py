"""Which column type changes keep every value (widening) and which may lose some (narrowing)."""

from __future__ import annotations

from sqlalchemy import Numeric, types


def is_widening(old: types.TypeEngine, new: types.TypeEngine) -> bool:
    """True when every value of the old type fits the new type unchanged."""
    if isinstance(new, types.Text) and not getattr(new, "length", None):
        return True  # unbounded text holds any value's text form
    if isinstance(new, types.Text | types.String) and isinstance(old, types.String | types.Text):
        old_len = getattr(old, "length", None)
        new_len = getattr(new, "length", None)
        return new_len is None or (old_len is not None and new_len >= old_len)
    if isinstance(old, types.Integer) and isinstance(new, types.Integer):
        return isinstance(new, types.BigInteger) or not isinstance(old, types.BigInteger)
    if isinstance(old, types.Integer) and isinstance(new, types.Float):
        return True
    # (Float is a kind of Numeric in SQLAlchemy: the Float cases come first.)
    if isinstance(old, types.Integer) and isinstance(new, Numeric):
        return new.precision is None or new.precision - (new.scale or 0) >= 19
    if isinstance(old, types.Float) and isinstance(new, types.Float):
        return (new.precision or 53) >= (old.precision or 53)
    if isinstance(old, Numeric) and isinstance(new, types.Float):
        return False
    if isinstance(old, Numeric) and isinstance(new, Numeric):
        if new.precision is None:
            return True
        if old.precision is None:
            return False
        old_scale, new_scale = old.scale or 0, new.scale or 0
        return new_scale >= old_scale and new.precision - new_scale >= old.precision - old_scale
    return False
