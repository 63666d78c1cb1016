"""`python -m archiver.cli`: the same as the `archiver` command."""

from archiver.cli.launch import console

console()
