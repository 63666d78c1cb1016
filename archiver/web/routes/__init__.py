"""Route modules of the web app, one per area; each defines `router` (a fastapi.APIRouter), which
`archiver.web.app.create_app` includes."""
