from polis.cli import app

app(prog_name="polis")
