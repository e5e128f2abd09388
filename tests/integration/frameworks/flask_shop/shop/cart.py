"""The cart: a login redirect that carries the context path, a counter, values changed in place."""

from datetime import UTC, datetime
from uuid import UUID

from flask import Blueprint, flash, redirect, session, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from deployer.worker import SessionError
from shop.version import VERSION

bp = Blueprint("cart", __name__)


@bp.get("/")
def index() -> str | Response:
    if "user" not in session:
        flash("please log in")
        return redirect(url_for("auth.login"))
    session["count"] = session.get("count", 0) + 1
    return f"{VERSION} {session['user']} {session['count']} {url_for('cart.index')}"


@bp.post("/add/<item>")
def add(item: str) -> str:
    session.setdefault("items", []).append(item)  # changed in place, no session.modified
    session["last"] = (item, len(session["items"]))  # a tuple, as Flask's own session keeps
    return "ok"


@bp.get("/items")
def items() -> str:
    last = session["last"]
    return f"{','.join(session['items'])} {type(last).__name__} {last[0]}"


@bp.post("/kinds")
def store_kinds() -> str:
    """What Flask's own session round-trips, and a value no session can keep."""
    session["kinds"] = {"markup": Markup("<b>hi</b>"), "bytes": b"\x00\xff", "uuid": UUID(int=1),
                        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "pair": (1, 2)}
    try:
        session["bad"] = {1, 2}
    except SessionError as exc:
        return str(exc)
    return "a set was kept"


@bp.get("/kinds")
def kinds() -> str:
    return " ".join(f"{k}:{type(v).__name__}" for k, v in sorted(session["kinds"].items()))


@bp.get("/flags")
def flags() -> str:
    before = f"new={session.new} modified={session.modified}"
    session.permanent = True
    return f"{before} then modified={session.modified} permanent={session.permanent}"
