"""The notify function's handler, as infra/template.yaml names it (`app.handler`). Its code is
`dogdetect.entrypoints.notify`, in the core layer."""

from dogdetect.entrypoints.notify import handler

__all__ = ["handler"]
