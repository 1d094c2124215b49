"""Schemathesis hooks for deploy/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

A caller that fuzzes `PUT /users/{id}` on its own account sooner or later
sends a new password, and every request after that fails authentication
(and then hits the login limiter): the rest of the run would test nothing
but 401 and 429. So the caller's own password is kept: the `password`
field (field names are case-insensitive) is dropped from bodies sent to
its own account. Every other field, and every other account, is fuzzed.

(The caller with a session token would likewise end its own session with
`POST /auth/logout`: fuzz.sh leaves that operation out of its run.) The
personal token the token run fuzzes with (`FUZZ_KEEP_TOKEN`, its id) is
likewise never revoked: the runs of its user list their tokens, and
Schemathesis feeds listed ids to `DELETE /auth/tokens/{id}`; that id is
swapped for one that does not exist.

The owner's run fuzzes `POST /admin/sync?action=restore` too: while that
restore runs, every data request is answered 503 "Maintenance in
progress" with `Retry-After`, as documented. Those answers are what the
api must say then, not server errors, so they are not counted as
failures (fuzz.sh counts them apart).
"""
import os

import schemathesis

SELF_ID = os.environ.get("FUZZ_SELF_ID", "")
MAINTENANCE = b"Maintenance in progress"


def in_maintenance(status, body):
    """An answer given while a restore the run asked for was running."""
    return status == 503 and MAINTENANCE in (body or b"")


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    return not in_maintenance(response.status_code, response.content)


KEEP_TOKEN = os.environ.get("FUZZ_KEEP_TOKEN", "")


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if (
        KEEP_TOKEN
        and case.method.upper() == "DELETE"
        and case.operation.path == "/auth/tokens/{id}"
        and (case.path_parameters or {}).get("id") == KEEP_TOKEN
    ):
        case.path_parameters["id"] = "0" * len(KEEP_TOKEN)
    if not SELF_ID or case.method.upper() != "PUT" or case.operation.path != "/users/{id}":
        return
    if str((case.path_parameters or {}).get("id", "")).lstrip("0") != SELF_ID:
        return
    if isinstance(case.body, dict):
        for key in [k for k in case.body if isinstance(k, str) and k.lower() == "password"]:
            del case.body[key]
