"""The service's limits, each written once. The `dogdetect` client (clients/python) writes
the few it needs again; tests/clients checks that they match.

API Gateway and Lambda cap a synchronous request payload at 6 MB (6,291,456 bytes), and API
Gateway base64-encodes binary bodies (4/3 growth). Multipart framing adds ~1 KB. 4.5 MiB of
image * 4/3 = 6.0 MiB of base64 plus headers stays under 6 MB. See docs/decisions.md."""

LAMBDA_PAYLOAD_LIMIT_BYTES = 6_291_456
# The largest binary body either way through API Gateway and Lambda: an upload's photo, an
# annotated JPEG. (4,500,000 x 4/3 = 6,000,000) + framing < the limit.
MAX_BINARY_BODY_BYTES = 4_500_000
DEFAULT_MAX_UPLOAD_BYTES = MAX_BINARY_BODY_BYTES  # MAX_UPLOAD_BYTES may lower it
# Straight to S3, no gateway in between: only S3's own limits apply (5 GB for a POST).
DEFAULT_DIRECT_UPLOAD_MAX_BYTES = 25_000_000
# The longest Prefer: wait honoured: the status function's timeout (25 s) and API Gateway's
# (30 s) beyond it.
MAX_WAIT_SECONDS = 20
# GET /image_prediction: predictions per page (`limit`), when not asked and at most.
DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100
