"""The booking blueprint's logic, inside each write's transaction: a booking takes an open slot
that has not started, whether it is made or moved to another slot, and closes it (so lists of
open slots show what is still free); a slot reopens when its booking is cancelled or moved. The
slot is locked, so the check and the booking are one step."""

from __future__ import annotations

import datetime as dt

from backforge.hooks import HookError, Hooks

hooks = Hooks()


@hooks.before_create("bookings")
def a_new_booking_takes_a_bookable_slot(ctx):
    _check_bookable(ctx, ctx.values["slot"])


@hooks.before_update("bookings")
def a_moved_booking_takes_a_bookable_slot(ctx):
    if "slot" in ctx.values and ctx.values["slot"] != ctx.old["slot"]:
        _check_bookable(ctx, ctx.values["slot"])


@hooks.after_create("bookings")
def a_booked_slot_closes(ctx):
    ctx.system.update("slots", ctx.record["slot"], {"open": False})


@hooks.after_update("bookings")
def a_move_frees_the_old_slot(ctx):
    if ctx.record["slot"] != ctx.old["slot"]:
        ctx.system.update("slots", ctx.old["slot"], {"open": True})
        ctx.system.update("slots", ctx.record["slot"], {"open": False})


@hooks.after_delete("bookings")
def a_cancelled_booking_frees_its_slot(ctx):
    ctx.system.update("slots", ctx.old["slot"], {"open": True})


def _check_bookable(ctx, slot_id: str) -> None:
    slot = ctx.system.get("slots", slot_id, lock=True)
    starts = slot["starts"]
    if isinstance(starts, str):
        starts = dt.datetime.fromisoformat(starts.replace("Z", "+00:00"))
    if starts.tzinfo is None:
        starts = starts.replace(tzinfo=dt.UTC)
    if not slot["open"] or starts <= dt.datetime.now(dt.UTC):
        raise HookError("this slot is closed or has started", status=409, field="slot")
