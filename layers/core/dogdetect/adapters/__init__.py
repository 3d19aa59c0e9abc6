"""Adapters: PostgreSQL, S3, SQS and ultralytics behind the ports in `dogdetect.domain.ports`."""
