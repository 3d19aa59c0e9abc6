"""The deadletter function's handler, as infra/template.yaml names it (`app.handler`). Its code is
`dogdetect.entrypoints.deadletter`, in the core layer."""

from dogdetect.entrypoints.deadletter import handler

__all__ = ["handler"]
