"""The migrate function's handler, as infra/template.yaml names it (`app.handler`). Its code is
`dogdetect.entrypoints.migrate`, in the core layer."""

from dogdetect.entrypoints.migrate import handler

__all__ = ["handler"]
