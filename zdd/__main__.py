"""`python -m zdd`."""

from zdd.cli import app

app(prog_name="zdd")
