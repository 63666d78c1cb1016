"""The HTTP side behind `archiver serve` (FastAPI): app.py builds the app and serves the public stable
URLs of archived copies (copies.py); routes/ holds the token-protected JSON API (api.py), the staff
web pages (pages.py) and link health with restore (health.py); deps.py the runtime and token checks
every route shares."""
