"""The chat blueprint's logic, inside each write's transaction: whoever starts a conversation
takes part in it, so they can read it and add others at once."""

from __future__ import annotations

from backforge.hooks import Hooks

hooks = Hooks()


@hooks.after_create("conversations")
def the_starter_takes_part(ctx):
    ctx.system.create(
        "participants", {"conversation": ctx.record["id"], "user": ctx.record["started_by"]}
    )
