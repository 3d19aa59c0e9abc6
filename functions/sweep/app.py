"""The sweep function's handler, as infra/template.yaml names it (`app.handler`). Its code is
`dogdetect.entrypoints.sweep`, in the core layer."""

from dogdetect.entrypoints.sweep import handler

__all__ = ["handler"]
