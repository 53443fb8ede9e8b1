"""The FastAPI reference the kit replaces: the same /arch endpoint, for bench/server.sh."""
import platform

from fastapi import FastAPI

app = FastAPI()


@app.get("/arch")
def arch():
    return {"architecture": platform.machine()}
