"""A FastAPI app served by uvicorn (the buildpack finds `app` here because requirements.txt names uvicorn)."""
from importlib.metadata import version

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
def hello():
    return f"Hello from py-fastapi: fastapi {version('fastapi')}, uvicorn {version('uvicorn')}\n"
