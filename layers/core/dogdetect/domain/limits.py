"""Request-size limits the service and its clients share (standard library only: the
`dogdetect` command imports this without pydantic).

API Gateway and Lambda cap a synchronous request payload at 6 MB (6,291,456 bytes), and API
Gateway base64-encodes binary bodies (4/3 growth). Multipart framing adds ~1 KB. 4.5 MiB of
image * 4/3 = 6.0 MiB of base64 plus headers stays under 6 MB. See docs/decisions.md."""

LAMBDA_PAYLOAD_LIMIT_BYTES = 6_291_456
DEFAULT_MAX_UPLOAD_BYTES = 4_500_000  # (4,500,000 x 4/3 = 6,000,000) + framing < the limit
