"""`make local`: the whole service on one machine. moto's server stands in for AWS,
embedded PostgreSQL for RDS, a gateway turns HTTP into API Gateway events for the real
handlers, and a poller feeds `predict` real SQS batch events."""
