"""The shop's WSGI entry point (deployer finds ``wsgi.py`` with ``application``)."""

from shop import create_app

application = create_app()
