"""Names vulture (make lint) cannot see used, each with who uses it. Only read by vulture,
never run."""

# Called by a framework, by name.
# FastAPI routes, registered by their decorators.
read_prediction, read_annotated, health, create_prediction, create_direct_upload
list_past_predictions
# pydantic-settings: the class's configuration and a field validator.
model_config, _delays_parse
# SQLAlchemy event listeners (adapters/postgres/engine.py, runtime/migrate.py).
_current_credentials, _idle_from_now, _ping_if_idle, _connect_quickly, _bound
# The Lambda context object's attributes, read by Powertools (local/functions.py).
memory_limit_in_mb, function_version, log_group_name, aws_request_id, invoked_function_arn
# uvicorn's h11 protocol calls this override on a malformed request (local/http_protocol.py).
send_400_response, msg
# A table's declaration: read through Base.metadata (its role's grants, runtime/migrate.py);
# the queries are SQL text (adapters/postgres/slots.py).
SlotClaimRow
# SweepResult's counts, read through dataclasses.asdict by the sweep function.
skipped, keys_expired, webhooks_announced

# Read outside the scanned code.
# scripts/predict_runtime.py reads it in a probe run as a subprocess.
loaded_from_cache
# The decoder's measured cost, which tests/unit/image/test_decode.py holds to the limits.
jpeg_scans, jpeg_scan_work
# The migration's own checks (tests/integration/test_migrations.py): the revision, and an
# upgrade that leaves a newer schema alone, without the custom resource around them.
current_revision, upgrade_unless_newer
# The stack harness the tests and benchmarks start stacks of their own with, and warm them
# (local/launcher.py).
running_stack, port_open, warm_status_environments
# moto's own method, replaced in its class (local/moto_overheads.py); moto calls it.
is_message_valid_based_on_retention_period
