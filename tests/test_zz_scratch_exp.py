import schemathesis, pytest
from hypothesis import settings, HealthCheck
from search_service import create_app
from search_service.web.openapi import openapi_document
import copy
doc = copy.deepcopy(openapi_document())
for path in doc["paths"].values():
    for op in path.values():
        for p in op.get("parameters", []):
            if p["in"] == "query":
                p["allowEmptyValue"] = True
APP = create_app({"INDEX_DIR": "/tmp/exp/ix1"})
schema = schemathesis.openapi.from_dict(doc)
schema.app = APP
from schemathesis.specs.openapi import checks as oc

@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_x(case):
    case.call_and_validate(excluded_checks=[oc.unsupported_method])
