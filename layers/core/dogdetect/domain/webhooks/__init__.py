"""Webhooks: a prediction's status POSTed to the client's URL once it ends DONE or ERROR,
signed as the Standard Webhooks specification says, only to public addresses.

- `urls`: which URLs a client may give (checked at submit, again before each delivery);
- `addresses`: which resolved addresses may be connected to (the SSRF guard);
- `signing`: the secret's format and the `webhook-*` headers;
- `client`: one POST over a connection to a checked address, no redirects, seconds-long limits;
- `retry`: how long a failed delivery waits before the next try.
"""
