"""Routes of Microsoft.MachineLearningServices (every api-version azure-ai-ml uses is accepted)."""

from __future__ import annotations

from ...arm.router import RG, SUB, Route
from .responses import MLResponses

NS = "Microsoft.MachineLearningServices"
WS = RG + r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<workspace>[^/]+)"
N = r"(?P<name>[^/]+)"
V = r"(?P<version>[^/]+)"
E = r"(?P<endpoint>[^/]+)"


def routes(r: MLResponses) -> list[Route]:
    return [
        Route("GET", WS, r.get_workspace, NS),
        Route("GET", RG + r"/providers/Microsoft\.MachineLearningServices/workspaces", r.list_workspaces, NS),
        Route("GET", SUB + r"/providers/Microsoft\.MachineLearningServices/workspaces", r.list_workspaces, NS),
        # datastores
        Route("GET", WS + "/datastores", r.list_datastores, NS),
        Route("GET", WS + "/datastores/" + N, r.get_datastore, NS),
        Route("POST", WS + "/datastores/" + N + "/listSecrets", r.list_secrets, NS),
        # models
        Route("GET", WS + "/models", r.list_model_containers, NS),
        Route("GET", WS + "/models/" + N, r.get_model_container, NS),
        Route("PUT", WS + "/models/" + N, r.put_model_container, NS),
        Route("GET", WS + "/models/" + N + "/versions", r.list_model_versions, NS),
        Route("GET", WS + "/models/" + N + "/versions/" + V, r.get_model_version, NS),
        Route("PUT", WS + "/models/" + N + "/versions/" + V, r.put_model_version, NS),
        Route("DELETE", WS + "/models/" + N + "/versions/" + V, r.delete_model_version, NS),
        # code snapshots and environments
        Route("GET", WS + "/codes/" + N + "/versions", r.list_code_versions, NS),
        Route("GET", WS + "/codes/" + N + "/versions/" + V, r.get_code_version, NS),
        Route("PUT", WS + "/codes/" + N + "/versions/" + V, r.put_code_version, NS),
        Route("POST", WS + "/codes/" + N + "/versions/" + V + "/startPendingUpload", r.start_pending_upload, NS),
        Route("GET", WS + "/environments/" + N + "/versions", r.list_environment_versions, NS),
        Route("GET", WS + "/environments/" + N + "/versions/" + V, r.get_environment_version, NS),
        # jobs
        Route("GET", WS + "/jobs", r.list_jobs, NS),
        Route("GET", WS + "/jobs/" + N, r.get_job, NS),
        Route("PUT", WS + "/jobs/" + N, r.put_job, NS),
        Route("POST", WS + "/jobs/" + N + "/cancel", r.cancel_job, NS),
        # online endpoints and deployments
        Route("GET", WS + "/onlineEndpoints", r.list_endpoints, NS),
        Route("GET", WS + "/onlineEndpoints/" + N, r.get_endpoint, NS),
        Route("PUT", WS + "/onlineEndpoints/" + N, r.put_endpoint, NS),
        Route("PATCH", WS + "/onlineEndpoints/" + N, r.patch_endpoint, NS),
        Route("DELETE", WS + "/onlineEndpoints/" + N, r.delete_endpoint, NS),
        Route("POST", WS + "/onlineEndpoints/" + N + "/listKeys", r.list_keys, NS),
        Route("POST", WS + "/onlineEndpoints/" + N + "/regenerateKeys", r.regenerate_keys, NS),
        Route("GET", WS + "/onlineEndpoints/" + E + "/deployments", r.list_deployments, NS),
        Route("GET", WS + "/onlineEndpoints/" + E + "/deployments/" + N, r.get_deployment, NS),
        Route("PUT", WS + "/onlineEndpoints/" + E + "/deployments/" + N, r.put_deployment, NS),
        Route("PATCH", WS + "/onlineEndpoints/" + E + "/deployments/" + N, r.patch_deployment, NS),
        Route("DELETE", WS + "/onlineEndpoints/" + E + "/deployments/" + N, r.delete_deployment, NS),
        Route("POST", WS + "/onlineEndpoints/" + E + "/deployments/" + N + "/getLogs", r.deployment_logs, NS),
        # run history (data plane, reached through the workspace's discovery URL): what jobs.stream reads
        Route("GET", r"/discovery", r.discovery, arm=False),
        Route("GET", r"/history/v1\.0" + WS + r"/runs/(?P<run>[^/]+)/details", r.run_details, arm=False),
        # scoring (data plane): the scoring server's URL path, for clients that reach the sandbox itself
        Route("POST", r"/online-endpoints/" + E + "/score", r.score, arm=False),
    ]
