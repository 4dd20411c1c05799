"""The hooks module of the test project: job, cron and async handlers whose every run leaves a
`runs` record, so that tests can see from the database what a worker did."""

import asyncio
import os
import time

from backforge.hooks import Hooks
from backforge.jobs import enqueue

hooks = Hooks()


@hooks.after_create("orders")
def follow_up_when_asked(ctx):
    """Jobs queued from code join the write's transaction: none if it rolls back."""
    if ctx.record["note"] == "follow":
        enqueue("follow_up", {"order": ctx.record["id"]}, key=ctx.record["id"])


def follow_up(ctx):
    with ctx.once() as first:
        if first:
            ctx.system.create("receipts", {"order_id": ctx.data["order"], "kind": "follow"})


def send_receipt(ctx):
    order = ctx.record
    run = {"job": ctx.idempotency_key, "attempt": ctx.attempt, "pid": os.getpid()}
    ctx.system.create("runs", run)
    if order["note"] == "fail":
        raise RuntimeError("the payment provider is down")
    with ctx.once("receipt") as first:
        if first:
            ctx.system.create("receipts", {"order_id": order["id"], "kind": "sync"})
    if order["note"] == "hang" and ctx.attempt == 1:
        time.sleep(600)  # the test kills the worker here, after the receipt is committed


async def paid_notice(ctx):
    await asyncio.sleep(0)
    with ctx.once() as first:
        if first:
            ctx.system.create("receipts", {"order_id": ctx.record["id"], "kind": "async"})


def beat(ctx):
    ctx.system.create("ticks", {"tick": ctx.tick, "pid": os.getpid()})
