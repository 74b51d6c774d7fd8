"""Schemathesis hooks of scripts/api-fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

The fuzzer learns operator names from `GET /api/v1/me` and `GET /api/v1/operators` and revokes
them: it must never revoke the operator whose token it sends, or every later request would be a
401 and the run would test nothing. A revocation of that operator goes to the second admin
instead (the controller refuses to revoke the last active admin, 409).
"""

import os

import schemathesis

FUZZ_ADMIN = os.environ["API_FUZZ_ADMIN"]
SECOND_ADMIN = os.environ["API_FUZZ_SECOND_ADMIN"]


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.operation.path != "/api/v1/operators/{name}/revoke":
        return
    if (case.path_parameters or {}).get("name") == FUZZ_ADMIN:
        case.path_parameters["name"] = SECOND_ADMIN
