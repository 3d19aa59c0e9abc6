"""Each function's cold start in a fresh interpreter, with the running stack's environment:
import as Lambda imports the handler, then its first invocation(s); predict with each engine
(its init: the model loaded and warmed, then a first image), and the peak memory of each."""

from __future__ import annotations

from typing import Any

from bench.common import SHARED, Steps, run_worker
from bench.stack_control import function_env

API_FUNCTIONS = ("submit", "status", "sweep")
ENGINES = ("openvino", "ultralytics")  # the default first; ultralytics for comparison


def measure(stack: Any, step: Steps, repeats: int) -> dict[str, Any]:
    dog = str(SHARED / "images" / "dog.jpg")
    api: dict[str, Any] = {}
    for name in API_FUNCTIONS:
        step(f"cold start {name}")
        args = {"function": name, "photo": dog}
        api[name] = [run_worker("function", args, function_env(stack)) for _ in range(repeats)]
        step.done()
    predict: dict[str, Any] = {}
    for engine in ENGINES:
        step(f"cold start predict ({engine})")
        env = function_env(stack, DETECTOR_ENGINE=engine)
        args = {"function": "predict", "photo": dog}
        predict[engine] = [run_worker("function", args, env) for _ in range(repeats)]
        step.done()
    return {"api": api, "predict": predict}


STEPS = len(API_FUNCTIONS) + len(ENGINES)
