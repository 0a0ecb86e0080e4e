"""schemathesis against ``/api/v1/openapi.json``: generated requests (valid and invalid) for every operation of the
real app, on the sandboxes, signed in as a rep. No answer may be a 500 or break the document (status code,
content type, schema of the body, headers); valid requests must be accepted (or refused for a documented
reason such as an unknown record or item).
"""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.specs.openapi.checks import negative_data_rejection

from tests.backend.addin_fixtures import *  # noqa: F403
from tests.e2e.actors import at

EXAMPLES = 25
# A request that fits the schema may still name a Salesforce record that does not exist: 422 says so.
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422", "503"]}}}
)


def fuzz(operation, mode, headers: dict[str, str], item_id: str, counter: list[int]) -> Callable[[], None]:
    negative = mode is schemathesis.GenerationMode.NEGATIVE

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        excluded = []
        if negative:
            # We sign every request in, which may make an invalid one (no Authorization) valid: judge it only by
            # "no 500, a documented status, a body that fits the schema".
            excluded.append(negative_data_rejection)
        elif "item_id" in (case.path_parameters or {}) and counter[0] % 3 == 0:
            case.path_parameters["item_id"] = item_id  # some cases on a real item of the caller
        case.call_and_validate(headers=headers, excluded_checks=excluded)
        counter[0] += 1

    return run


def test_no_500_and_no_schema_breaking_answer(api_app, token_for, world):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api_app, config=CONFIG)
    headers = {"Authorization": f"Bearer {token_for(world.rep.email)}"}
    item_id = world.outlook().create("Fuzzed", at(2, 15), at(2, 16), categories=())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"PUT /items/{item_id}/share", "GET /salesforce/lookup", "POST /sync"}
    counter = [0]
    for operation in operations:
        for mode in schemathesis.GenerationMode:
            try:
                fuzz(operation, mode, headers, item_id, counter)()
            except Unsatisfiable:
                # No invalid request exists for an operation without parameters or body.
                assert mode is schemathesis.GenerationMode.NEGATIVE
    assert counter[0] >= len(operations) * 10
