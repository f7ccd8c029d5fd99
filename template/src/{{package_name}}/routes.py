"""The service's own endpoints. This file is yours: `copier update` never overwrites it."""

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter()


class Greeting(BaseModel):
    """A friendly answer."""

    message: str


@router.get("/hello/{name}")
async def hello(name: str) -> Greeting:
    """Greet someone by name."""
    return Greeting(message=f"Hello, {name}!")
