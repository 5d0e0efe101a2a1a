"""The route an export's file is fetched from: `GET /exports/{id}.jsonl.gz?exp=…&sig=…`.

The link is the credential (app/domain/exports/links.py): a forged or expired one is
403 with a code, checked before the export is looked up. The file is streamed from
disk (Starlette's FileResponse), never read whole.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from app.domain.exports import links
from app.infra.i18n import language_of, translate
from app.models.exports import Export, ExportStatus
from app.services.export_job import file_path

_NAME = re.compile(r"([0-9]{1,18})\.jsonl\.gz")


def _refusal(request: Request, status: int, code: str, message: str) -> JSONResponse:
    language = language_of(request.headers.get("accept-language"))
    return JSONResponse(
        {"errors": [{"message": translate(message, language), "extensions": {"code": code}}]},
        status_code=status,
        headers={"cache-control": "no-store"},
    )


async def export_file(request: Request) -> Response:
    m = _NAME.fullmatch(request.path_params["name"])
    if m is None:
        return _refusal(request, 404, "NOT_FOUND", "export not found")
    export_id = int(m.group(1))
    try:
        links.check(
            export_id,
            request.query_params.get("exp"),
            request.query_params.get("sig"),
            datetime.now(UTC),
        )
    except links.LinkRefused as refused:
        return _refusal(request, 403, refused.code.value, refused.message)
    export = await Export.get_or_none(id=export_id)
    path = file_path(export_id)
    if export is None or export.status == ExportStatus.EXPIRED or not path.is_file():
        return _refusal(request, 404, "NOT_FOUND", "export not found")
    if export.status != ExportStatus.DONE:
        return _refusal(request, 409, "EXPORT_NOT_READY", "this export is not finished yet")
    return FileResponse(
        path,
        media_type="application/gzip",
        filename=f"export-{export_id}.jsonl.gz",
        headers={"cache-control": "private, no-store"},
    )


def routes() -> list[Route]:
    return [Route("/exports/{name}", export_file, methods=["GET"])]
