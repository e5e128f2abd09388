"""Logging in: the flashed message of the redirect, and a new session id on login."""

from flask import Blueprint, get_flashed_messages, redirect, request, session, url_for
from werkzeug.wrappers import Response

bp = Blueprint("auth", __name__)


@bp.get("/")
def login() -> str:
    return "login: " + "|".join(get_flashed_messages())


@bp.post("/")
def do_login() -> Response:
    session.clear()  # a new session (and id) for the logged-in user
    session["user"] = request.form["user"]
    return redirect(url_for("cart.index"))
