"""Routes of Microsoft.Logic (workflows, triggers, runs), Microsoft.Web/connections and the callbacks."""

from __future__ import annotations

from ...arm.router import RG, SUB, Route
from .responses import LogicResponses

NS = "Microsoft.Logic"
WF = RG + r"/providers/Microsoft\.Logic/workflows/(?P<workflow>[^/]+)"
TRIG = WF + r"/triggers/(?P<trigger>[^/]+)"
RUN = WF + r"/runs/(?P<run>[^/]+)"
CONN = RG + r"/providers/Microsoft\.Web/connections"


def routes(r: LogicResponses) -> list[Route]:
    return [
        Route("GET", RG + r"/providers/Microsoft\.Logic/workflows", r.list_workflows, NS),
        Route("GET", SUB + r"/providers/Microsoft\.Logic/workflows", r.list_workflows, NS),
        Route("PUT", WF, r.put_workflow, NS),
        Route("GET", WF, r.get_workflow, NS),
        Route("DELETE", WF, r.delete_workflow, NS),
        Route("POST", WF + r"/enable", r.enable, NS),
        Route("POST", WF + r"/disable", r.disable, NS),
        Route("GET", WF + r"/triggers", r.list_triggers, NS),
        Route("GET", TRIG, r.get_trigger, NS),
        Route("POST", TRIG + r"/listCallbackUrl", r.callback_url, NS),
        Route("GET", TRIG + r"/histories", r.list_histories, NS),
        Route("GET", TRIG + r"/histories/(?P<history>[^/]+)", r.get_history, NS),
        Route("GET", WF + r"/runs", r.list_runs, NS),
        Route("GET", RUN, r.get_run, NS),
        Route("GET", RUN + r"/actions", r.list_actions, NS),
        Route("GET", RUN + r"/actions/(?P<action>[^/]+)", r.get_action, NS),
        Route("POST", r"/logic/workflows/(?P<key>[0-9a-fA-F]{32})/triggers/(?P<trigger>[^/]+)/paths/invoke",
              r.invoke, arm=False),
        Route("OPTIONS", r"/logic/workflows/(?P<key>[0-9a-fA-F]{32})/triggers/(?P<trigger>[^/]+)/paths/invoke",
              r.invoke_options, arm=False),
        Route("GET", r"/logic/contents/(?P<key>[0-9a-f]{32})", r.content, arm=False),
        Route("GET", CONN, r.list_connections, "Microsoft.Web"),
        Route("PUT", CONN + r"/(?P<name>[^/]+)", r.put_connection, "Microsoft.Web"),
        Route("GET", CONN + r"/(?P<name>[^/]+)", r.get_connection, "Microsoft.Web"),
        Route("DELETE", CONN + r"/(?P<name>[^/]+)", r.delete_connection, "Microsoft.Web"),
    ]
