"""Node-to-node routes, outside every AIDP path: only another node of the service (a request signed as a
node's own call with the cluster secret) may use them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictStr

from nbplane.api.deps import ServicesDep, json_body, request_facts
from nbplane.errors import NotAuthenticatedError
from nbplane.nodes.peers import KERNEL_STATES_PATH, MAX_IDS, activity_json
from nbplane.nodes.signing import NODE_SUBJECT

router = APIRouter()


class KernelStatesQuery(BaseModel):
    kernel_ids: list[StrictStr] = Field(max_length=MAX_IDS)


@router.post(KERNEL_STATES_PATH, include_in_schema=False)
async def kernel_states(request: Request, services: ServicesDep) -> JSONResponse:
    facts = await request_facts(request)
    subject = services.node_signer.verify(facts.method, facts.raw_path, facts.query_string, facts.body, facts.headers)
    if subject != NODE_SUBJECT:
        raise NotAuthenticatedError("only another nbplane node may ask for kernel states")
    query = await json_body(KernelStatesQuery)(request)
    states = await services.kernels.local_activity(query.kernel_ids)
    return JSONResponse({"kernels": {kid: activity_json(a) for kid, a in states.items()}})
