"""Reading a JSON request body with a size limit, so bad input is a 4xx and never a 500."""

from __future__ import annotations

import json

from starlette.requests import ClientDisconnect, Request


class BodyError(Exception):
    """A body we refuse: `status` is 413 (too large) or 400 (not JSON / client went away)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_json(request: Request, limit: int) -> object:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:  # chunked uploads declare no length: count as we read
                raise BodyError(413, f"body larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise BodyError(400, "client disconnected while sending the body") from None
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):  # ValueError covers bad UTF-8 too
        raise BodyError(400, "body is not valid JSON") from None
