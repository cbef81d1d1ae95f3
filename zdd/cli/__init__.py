"""The `zdd` command line: parse, call a use case (zdd/app/); the only package that prints."""

from zdd.cli.commands import app as app
