"""A Flask app served by gunicorn (the buildpack finds `app` here because requirements.txt names gunicorn)."""
from importlib.metadata import version

import flask

app = flask.Flask(__name__)


@app.get("/")
def hello():
    return f"Hello from py-gunicorn: flask {version('flask')}, gunicorn {version('gunicorn')}\n"
