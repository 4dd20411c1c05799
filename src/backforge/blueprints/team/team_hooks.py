"""The team blueprint's logic, inside each write's transaction: whoever creates a team becomes
its owner (a membership with the role `owner`), so the team is visible to them at once."""

from __future__ import annotations

from backforge.hooks import Hooks

hooks = Hooks()


@hooks.after_create("teams")
def make_the_creator_owner(ctx):
    ctx.system.create(
        "memberships", {"team": ctx.record["id"], "user": ctx.record["owner"], "role": "owner"}
    )
