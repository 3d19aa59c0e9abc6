"""Use cases: submit an image, process a job, read a prediction, sweep unqueued uploads."""
