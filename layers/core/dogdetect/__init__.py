"""Core of the dog-detection service, shared by every function as a Lambda layer.

Dependencies point one way: handlers -> service (domain) -> ports. Adapters for PostgreSQL,
S3, SQS and ultralytics implement the ports and are wired in `dogdetect.runtime.composition`.
"""
