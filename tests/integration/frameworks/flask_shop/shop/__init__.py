"""A Flask shop with two blueprints; its sessions are deployer's (the one line below)."""

from flask import Flask

from deployer.worker.flask import DeployerSessionInterface


def create_app() -> Flask:
    from shop import auth, cart

    app = Flask(__name__)
    app.session_interface = DeployerSessionInterface()
    app.register_blueprint(auth.bp, url_prefix="/login")
    app.register_blueprint(cart.bp, url_prefix="/cart")
    return app
