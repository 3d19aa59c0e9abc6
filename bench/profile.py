"""`python -m bench.profile`: pyinstrument profile of warm submit invocations, in process,
against a running local stack (the figures in docs/benchmarks.md's last section came from it)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    from pyinstrument import Profiler

    from local.launcher import running_stack

    with running_stack(Path(tempfile.mkdtemp(prefix="dogdetect-profile-"))) as stack:
        import os

        os.environ.update({k: v for k, v in stack.environment.items() if k.isupper()})
        sys.path[:0] = [str(REPO / "functions" / "submit"), str(REPO / "layers" / "core")]
        from dogdetect.entrypoints import submit as app  # functions/submit/app.py's code

        from bench.worker import upload_event
        from local.functions import invoke

        photo = (REPO.parent / "shared" / "images" / "dog.jpg").read_bytes()
        event = upload_event(photo)
        invoke(app, "submit", event, 30)  # cold, not profiled
        # FastAPI runs the (sync) endpoint in a worker thread, which pyinstrument does not
        # sample: profile the whole invocation for its wall time, then the endpoint's service
        # call in this thread for where the CPU goes.
        from dogdetect.service.submit import accept_upload

        for title, call in (
            ("whole invocation", lambda: invoke(app, "submit", event, 30)),
            ("service: accept_upload", lambda: accept_upload(photo, app.submit_deps())),
        ):
            profiler = Profiler(interval=0.0005)
            with profiler:
                for _ in range(40):
                    call()
            print(f"== {title}, 40 calls")
            print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
