"""The submit function's handler, as infra/template.yaml names it (`app.handler`). Its code is
`dogdetect.entrypoints.submit`, in the core layer."""

from dogdetect.entrypoints.submit import handler

__all__ = ["handler"]
