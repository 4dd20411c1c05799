"""Business logic of the shop example, run inside each write's transaction.

- An order item takes its unit price from the catalogue and reserves stock: beyond the stock
  it is refused (409) and nothing is written; otherwise the product's stock goes down and the
  order's total up, in the same transaction as the item.
- POST /api/shop/checkout places an order with its items in one request.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from backforge.hooks import Endpoints, HookError, Hooks

hooks = Hooks()
endpoints = Endpoints()


@hooks.before_create("order_items")
def reserve_stock(ctx):
    # Locked for the rest of the transaction, so two orders cannot both take the last unit.
    product = ctx.system.get("products", ctx.values["product"], lock=True)
    quantity = ctx.values["quantity"]
    if not product["active"]:
        raise HookError(f"{product['name']} is not for sale", status=409, field="product")
    if product["stock"] < quantity:
        raise HookError(
            f"only {product['stock']} of {product['name']} left", status=409, field="quantity"
        )
    ctx.system.update("products", product["id"], {"stock": product["stock"] - quantity})
    ctx.values["unit_price"] = Decimal(product["price"])


@hooks.after_create("order_items")
def add_to_order_total(ctx):
    order = ctx.system.get("orders", ctx.record["order"], lock=True)
    line = Decimal(ctx.record["unit_price"]) * ctx.record["quantity"]
    ctx.system.update("orders", order["id"], {"total": Decimal(order["total"] or 0) + line})


class Line(BaseModel):
    product: str = Field(pattern=r"^[a-z0-9]{15}$")
    quantity: int = Field(ge=1, le=1000)


class Checkout(BaseModel):
    items: list[Line] = Field(min_length=1, max_length=50)
    note: str | None = Field(default=None, max_length=1000)


class Placed(BaseModel):
    order: str
    total: str
    items: int


@endpoints.post(
    "/api/shop/checkout", request=Checkout, response=Placed, status=201, requires_login=True
)
def checkout(ctx):
    """Place an order with its items, all or nothing."""
    order = ctx.store.create("orders", {"note": ctx.body.note})
    for line in ctx.body.items:
        ctx.store.create(
            "order_items",
            {"order": order["id"], "product": line.product, "quantity": line.quantity},
        )
    placed = ctx.store.get("orders", order["id"])
    return Placed(order=placed["id"], total=placed["total"], items=len(ctx.body.items))
