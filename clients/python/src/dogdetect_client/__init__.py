"""The dog-detector's Python client and its `dogdetect` command, on the standard library alone.

from dogdetect_client import Client
result = Client("http://127.0.0.1:8080").predict("dog.jpg")
result.status, result.has_dog, result.detections
"""

__version__ = "1.0.0"

from dogdetect_client.client import (  # after __version__, which cli reads
    API_ENV,
    API_KEY_ENV,
    DEFAULT_API,
    FAILED,
    REJECTED,
    ApiError,
    Client,
    Result,
)

__all__ = [
    "API_ENV",
    "API_KEY_ENV",
    "DEFAULT_API",
    "FAILED",
    "REJECTED",
    "ApiError",
    "Client",
    "Result",
    "__version__",
]
