"""The predict function's handler, as infra/template.yaml names it (`app.handler`). Its code is
`dogdetect.entrypoints.predict`, in the core layer."""

from dogdetect.entrypoints.predict import handler

__all__ = ["handler"]
