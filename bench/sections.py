"""The tables of docs/benchmarks.md's sections, one function each, from one run's results."""

from __future__ import annotations

from typing import Any

from bench import figures, pricing, stats, units
from bench.markdown import not_measured, table
from bench.result_files import Results
from bench.template_facts import TemplateFacts


def _drain_row(results: Results, label: str, which: str) -> list[str]:
    drained = (results.drain or {}).get(which, {})
    reference, ips = figures.bare_model_ips(results, which), figures.drain_ips(results, which)
    engine = figures.bare_engine_ips(results) if which == "photos" else stats.NAN
    done = f"{drained.get('finished', 0)} of {drained.get('images', 0)}"
    return [
        label,
        units.ips(reference),
        units.ips(engine),
        units.ips(ips),
        units.times(stats.ratio(ips, reference)),
        f"{done}, {drained.get('errors', 0)}",
    ]


def drain_table(results: Results) -> str:
    drain = results.drain
    if not drain:
        return not_measured("drain")
    header = ["images", "bare model (ultralytics)", "bare OpenVINO engine"]
    header += ["stack draining its queue", "drain / bare model", "DONE, errors"]
    rows = [
        _drain_row(results, f"{drain['images']} photos", "photos"),
        _drain_row(results, f"{drain['phone_images']} x 12 MP phone photo", "phone"),
    ]
    return table(header, rows)


def cold_start_table(results: Results, facts: TemplateFacts) -> str:
    runs = (results.cold_start or {}).get("runs")
    if not runs:
        return not_measured("cold_start")
    rows = []
    for n, run in enumerate(runs, 1):
        done, init = run.get("done_s") or stats.NAN, run.get("init_s") or stats.NAN
        rest = done - init - facts.batching_window_s
        rows.append(
            [
                str(n),
                units.secs(done),
                units.secs(float(facts.batching_window_s)),
                units.secs(init),
                units.secs(rest),
                units.secs(run.get("warm_done_s") or stats.NAN),
            ]
        )
    return table(
        [
            "run",
            "cold: submit -> DONE",
            "batching window",
            "init (as logged)",
            "the rest",
            "warm, right before",
        ],
        rows,
    )


def decode_table(results: Results) -> str:
    decode = results.decode
    if not decode:
        return not_measured("decode")
    rows = []
    for name, found in decode.items():
        if not isinstance(found, dict) or "full_s" not in found:
            continue
        full = stats.median(found["full_s"])
        draft = stats.median(found.get("for_model_s", []))
        shape = found.get("for_model_shape")
        rows.append(
            [
                f"`{name}`",
                units.ms(full),
                units.ms(draft),
                f"{shape[1]}x{shape[0]}" if shape else units.NOT_MEASURED,
                units.times(stats.ratio(full, draft)),
            ]
        )
    return table(
        ["photo", "full decode", "decode for the model", "decoded size", "faster"],
        rows,
    )


def s3_table(results: Results) -> str:
    s3 = results.s3_latency
    if not s3:
        return not_measured("s3_latency")
    rows = []
    for storage in s3["storages"]:
        delay = storage["delay_each_way_s"]
        title = f"{units.ms(delay)} each way" if delay else "local endpoint, no delay"
        if "not_measured" in storage:
            rows.append([title, storage["not_measured"], "", ""])
            continue
        one, four = figures.s3_batch_s(results, delay, 1), figures.s3_batch_s(results, delay, 4)
        rows.append([title, units.ms(one), units.ms(four), units.times(stats.ratio(one, four))])
    return table(["S3 delay", "fetch concurrency 1", "fetch concurrency 4", "gain"], rows)


def submit_table(results: Results) -> str:
    paused = (results.pipeline or {}).get("submit_only_latencies_s")
    if not paused:
        return not_measured("pipeline")
    rows = [
        [c, units.ms(stats.pct(v, 50)), units.ms(stats.pct(v, 95)), units.ms(stats.pct(v, 99))]
        for c, v in paused.items()
    ]
    return table(["concurrency", "p50", "p95", "p99"], rows)


def idle_line(results: Results, facts: TemplateFacts) -> str:
    idle = (results.pipeline or {}).get("idle_done_latencies_s")
    if not idle:
        return not_measured("pipeline")
    return (
        f"{len(idle)} uploads one at a time, each waited for: p50 {units.ms(stats.pct(idle, 50))}, "
        f"p95 {units.ms(stats.pct(idle, 95))} (the row's `created_at` to its `updated_at`). Most "
        "of it is the queue: a lone message waits for the batching window "
        f"(`MaximumBatchingWindowInSeconds`: {facts.batching_window_s} s) before predict is "
        "invoked, then fetch, decode, inference and the writes."
    )


def _function_row(name: str, runs: list[dict[str, Any]]) -> list[str]:
    heavy = set(runs[0].get("modules_at_import", [])) if runs else set()
    return [
        name,
        units.ms(stats.median_of(runs, "import_s")),
        units.ms(stats.median_of(runs, "model_load_s")),
        units.ms(stats.median_of(runs, "first_prediction_s")),
        units.ms(stats.median_of(runs, "first_invoke_s")),
        units.ms(stats.median_of(runs, "warm_invoke_s")),
        units.megabytes(stats.median_of(runs, "peak_rss_mb")),
        "yes" if {"torch", "ultralytics"} & heavy else "no",
    ]


def functions_table(results: Results) -> str:
    functions = results.functions
    if not functions:
        return not_measured("functions")
    rows = [_function_row(name, runs) for name, runs in functions["api"].items()]
    for engine, runs in functions["predict"].items():
        loaded = ", ".join(runs[0].get("modules_after_load", [])) if runs else ""
        rows.append(_function_row(f"predict ({engine}; loads {loaded or 'n/a'})", runs))
    return table(
        [
            "function",
            "import",
            "model load + warm-up",
            "first image",
            "first invocation",
            "warm invocation",
            "peak memory",
            "torch at import",
        ],
        rows,
    )


def closure_text(results: Results) -> str:
    closure = results.closure
    if not closure:
        return not_measured("closure")
    biggest = sorted(closure["packages"].items(), key=lambda kv: -kv[1])[:8]
    lines = [
        f"The packages `functions/predict/requirements.txt` installs, with everything they "
        f"depend on: **{units.mb(closure['total_bytes'])}** on disk, torch "
        f"{'included' if closure['has_torch'] else 'not included'}. Source: {closure['source']}.",
    ]
    if closure.get("trimmed_bytes"):
        lines.append(
            f"That is after the image's build removed {units.mb(closure['trimmed_bytes'])} the "
            "CPU engine never loads (`functions/predict/trim_runtime.py`)."
        )
    if closure.get("missing"):
        lines.append(
            "Not installed in this venv, so not counted: "
            + ", ".join(f"`{n}`" for n in closure["missing"])
            + " (the image's `pip install` counts them)."
        )
    if "with_export_requirements_bytes" in closure:
        lines.append(
            "For comparison, with the export requirements as well (torch, torchvision, "
            "ultralytics: what the ultralytics engine needs at run time), as installed here: "
            f"{units.mb(closure['with_export_requirements_bytes'])} (this venv's torch is the "
            "CUDA build)."
        )
    lines += ["", table(["largest packages", "bytes"], [[n, units.mb(b)] for n, b in biggest])]
    return "\n".join(lines)


def _backend_row(name: str, b: dict[str, Any], photos: list[str]) -> list[str]:
    if "latencies_s" not in b:
        return [name, f"not measured: {b.get('not_measured', '')}", *[""] * (len(photos) + 6)]
    answers = [
        f"{b['answers'][p]['has_dog']} ({b['answers'][p]['dog_confidence']:.2f})" for p in photos
    ]
    return [
        name,
        b["weights"],
        *answers,
        units.ms(stats.pct(b["latencies_s"], 50)),
        units.ms(stats.pct(b["latencies_s"], 95)),
        units.ms(b["import_s"]),
        units.ms(b["model_load_s"]),
        units.ms(b["first_prediction_s"]),
        units.megabytes(b["peak_rss_mb"]),
    ]


def backends_table(results: Results) -> str:
    backends = results.backends
    if not backends:
        return not_measured("backends")
    measured = {k: v for k, v in backends.items() if k != "head_to_head"}
    answered = next((v for v in measured.values() if "answers" in v), {})
    photos = list(answered.get("answers", {}))
    header = ["backend", "weights", *(f"`{p}` has_dog (dog conf.)" for p in photos)]
    header += ["warm p50", "warm p95", "import", "load", "first prediction", "peak memory"]
    return table(header, [_backend_row(name, b, photos) for name, b in measured.items()])


def head_to_head(results: Results) -> str:
    together = (results.backends or {}).get("head_to_head", {}).get("latencies_s")
    if not together:
        return ""
    ranked = sorted(together.items(), key=lambda kv: stats.pct(kv[1], 50))
    rows = [
        [name, units.ms(stats.pct(v, 50)), units.ms(stats.pct(v, 95)), str(len(v))]
        for name, v in ranked
    ]
    return (
        "**Head to head**: every backend loaded in one process, taking turns image by image "
        "(who goes first rotates each round), so the machine's noise hits them alike.\n\n"
        + table(["backend", "warm p50", "warm p95", "images"], rows)
    )


def scaling_table(results: Results, facts: TemplateFacts) -> str:
    scaling = (results.pipeline or {}).get("scaling")
    if not scaling:
        return not_measured("pipeline")
    rows = []
    for factor, r in scaling["runs"].items():
        durations = pricing.Durations(
            predict_s=r["first_to_last_done_s"] / max(1, r["images"] - 1),  # predict saturated
            submit_s=stats.mean(r["submit_latencies_s"]),
            status_s=stats.mean(r["status_latencies_s"]) if r["status_latencies_s"] else 0.0,
        )
        spent = pricing.per_1000_images(durations, facts)
        rows.append(
            [
                f"{factor}x",
                str(r["images"]),
                units.ips(r["throughput_ips"]),
                units.secs(stats.pct(r["done_latencies_s"], 50)),
                units.secs(stats.pct(r["done_latencies_s"], 95)),
                units.ms(stats.pct(r["submit_latencies_s"], 95)),
                units.ms(durations.predict_s),
                units.usd(spent.usd),
                units.usd(spent.usd_predict),
            ]
        )
    header = ["load", "images", "throughput", "submit -> DONE p50", "p95", "submit p95"]
    header += ["predict per image", "$ per 1,000 images", "of which predict"]
    return table(header, rows)


def waits_table(results: Results) -> str:
    waits = results.waits
    if not waits:
        return not_measured("waits")
    beside = f"{waits['waiters']} waiters"
    return routes_table("no waiter", waits["idle"], beside, waits["with_waiters"])


def routes_table(quiet: str, idle: dict[str, Any], beside: str, busy: dict[str, Any]) -> str:
    """p50 and p95 of each route, quiet and beside the load of a scenario."""
    header = ["route", f"{quiet}: p50", "p95", f"{beside}: p50", "p95"]
    rows = [
        [route, units.ms(alone["p50_s"]), units.ms(alone["p95_s"]),
         units.ms(busy[route]["p50_s"]), units.ms(busy[route]["p95_s"])]
        for route, alone in idle.items()
    ]  # fmt: skip
    return table(header, rows)


def waits_line(results: Results) -> str:
    waits = results.waits
    if not waits:
        return ""
    return (
        f"Of the {waits['waiters']} waiters ({waits['clients']} API keys): {waits['held']} held"
        f" (`Preference-Applied`), {waits['answered_at_once']} answered at once without it,"
        f" {waits['refused_429']} refused with 429, {waits['other']} other answers;"
        f" {waits['held_while_sampling']} waits were held while the routes above were timed."
    )


def drawings_table(results: Results) -> str:
    drawn = results.drawings
    if not drawn:
        return not_measured("drawings")
    beside = f"{drawn['burst']['requests']} drawings asked"
    return routes_table("alone", drawn["idle"], beside, drawn["while_drawing"])


def drawings_line(results: Results) -> str:
    drawn = results.drawings
    if not drawn:
        return ""
    first, kept, burst = drawn["first_s"], drawn["kept_s"], drawn["burst"]
    return (
        f"The first `/annotated` of a 12 MP photo (drawn): p50 {units.ms(first['p50'])}, at most"
        f" {units.ms(first['max'])} ({first['n']} photos); the next ones (kept): p50"
        f" {units.ms(kept['p50'])}, at most {units.ms(kept['max'])}. Of the"
        f" {burst['requests']} asked at once ({burst['predictions']} photos, at most"
        f" {drawn['drawings_total']} drawn at once): {drawn['ok_at_once']} answered 200 at once"
        f" (drawn, or sharing another's drawing), {drawn['busy_503']} told 503 with Retry-After"
        f" (no other answer: the run fails on one); retrying on Retry-After"
        f" ({drawn['retries']} retries),"
        f" the client had all {burst['requests']} {units.secs(drawn['all_served_s'])} after"
        " it asked."
    )


def webhooks_line(results: Results) -> str:
    hooks = results.webhooks
    if not hooks:
        return not_measured("webhooks")
    alone, behind = hooks["alone_s"], hooks["behind_s"]
    return (
        f"From DONE to the honest receiver's delivery: alone p50 {units.secs(alone['p50'])}"
        f" (at most {units.secs(alone['max'])}, {alone['n']} predictions); submitted right"
        f" behind {hooks['slow']} predictions whose receiver trickles, p50"
        f" {units.secs(behind['p50'])} (at most {units.secs(behind['max'])}). The slow"
        f" receiver had {hooks['slow_tries_at_once']} tries open at once."
    )
