"""The status function's handler, as infra/template.yaml names it (`app.handler`). Its code is
`dogdetect.entrypoints.status`, in the core layer."""

from dogdetect.entrypoints.status import handler

__all__ = ["handler"]
