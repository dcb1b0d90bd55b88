"""Routes of Microsoft.EventGrid: event subscriptions at any scope, system topics, custom topics."""

from __future__ import annotations

from ...arm.router import RG, SUB, Route
from .responses import EventGridResponses

NS = "Microsoft.EventGrid"
EG = r"/providers/Microsoft\.EventGrid"
NAME = r"(?P<name>[^/]+)"
SYSTEM_TOPIC = RG + EG + r"/systemTopics/(?P<topic>[^/]+)"
TOPIC = RG + EG + r"/topics/(?P<topic>[^/]+)"
SCOPE = r"(?P<scope>/subscriptions/.+?)" + EG + r"/eventSubscriptions/" + NAME
TOPIC_TYPE = r"/topicTypes/(?P<topic_type>[^/]+)"
LOCATION = r"/locations/(?P<location>[^/]+)"
RESOURCE = r"(?P<resource>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/[^/]+/[^/]+)"


def _crud(path: str, get, put, patch, delete, full_url, attributes) -> list[Route]:
    return [
        Route("GET", path, get, NS), Route("PUT", path, put, NS), Route("PATCH", path, patch, NS),
        Route("DELETE", path, delete, NS),
        Route("POST", path + "/getFullUrl", full_url, NS),
        Route("POST", path + "/getDeliveryAttributes", attributes, NS),
    ]


def routes(r: EventGridResponses) -> list[Route]:
    return [
        # system topics and their event subscriptions
        *_crud(SYSTEM_TOPIC + r"/eventSubscriptions/" + NAME, r.get_system_topic_sub, r.put_system_topic_sub,
               r.patch_system_topic_sub, r.delete_system_topic_sub, r.system_topic_sub_full_url,
               r.system_topic_sub_attributes),
        Route("GET", SYSTEM_TOPIC + r"/eventSubscriptions", r.list_system_topic_subs, NS),
        Route("GET", SYSTEM_TOPIC, r.get_system_topic, NS),
        Route("PUT", SYSTEM_TOPIC, r.put_system_topic, NS),
        Route("PATCH", SYSTEM_TOPIC, r.patch_system_topic, NS),
        Route("DELETE", SYSTEM_TOPIC, r.delete_system_topic, NS),
        Route("GET", RG + EG + r"/systemTopics", r.list_system_topics, NS),
        Route("GET", SUB + EG + r"/systemTopics", r.list_system_topics, NS),
        # custom topics, their keys and their event subscriptions (nested form)
        *_crud(TOPIC + r"/eventSubscriptions/" + NAME, r.get_topic_sub, r.put_topic_sub, r.patch_topic_sub,
               r.delete_topic_sub, r.topic_sub_full_url, r.topic_sub_attributes),
        Route("GET", TOPIC + r"/eventSubscriptions", r.list_topic_subs, NS),
        Route("POST", TOPIC + r"/listKeys", r.list_keys, NS),
        Route("POST", TOPIC + r"/regenerateKey", r.regenerate_key, NS),
        Route("GET", TOPIC, r.get_topic, NS),
        Route("PUT", TOPIC, r.put_topic, NS),
        Route("PATCH", TOPIC, r.patch_topic, NS),
        Route("DELETE", TOPIC, r.delete_topic, NS),
        Route("GET", RG + EG + r"/topics", r.list_topics, NS),
        Route("GET", SUB + EG + r"/topics", r.list_topics, NS),
        # topic types
        Route("GET", r"/providers/Microsoft\.EventGrid/topicTypes", r.list_topic_types, NS),
        Route("GET", r"/providers/Microsoft\.EventGrid" + TOPIC_TYPE, r.get_topic_type, NS),
        Route("GET", r"/providers/Microsoft\.EventGrid" + TOPIC_TYPE + r"/eventTypes", r.list_event_types, NS),
        # event subscription lists
        Route("GET", SUB + EG + r"/eventSubscriptions", r.list_global_by_subscription, NS),
        Route("GET", SUB + EG + TOPIC_TYPE + r"/eventSubscriptions", r.list_global_by_subscription_for_topic_type, NS),
        Route("GET", RG + EG + r"/eventSubscriptions", r.list_global_by_group, NS),
        Route("GET", RG + EG + TOPIC_TYPE + r"/eventSubscriptions", r.list_global_by_group_for_topic_type, NS),
        Route("GET", SUB + EG + LOCATION + r"/eventSubscriptions", r.list_regional_by_subscription, NS),
        Route("GET", RG + EG + LOCATION + r"/eventSubscriptions", r.list_regional_by_group, NS),
        Route("GET", SUB + EG + LOCATION + TOPIC_TYPE + r"/eventSubscriptions", r.list_regional_by_subscription, NS),
        Route("GET", RG + EG + LOCATION + TOPIC_TYPE + r"/eventSubscriptions", r.list_regional_by_group, NS),
        Route("GET", RESOURCE + EG + r"/eventSubscriptions", r.list_by_resource, NS),
        # event subscriptions at any scope (the workspace, a resource group, the subscription, a custom topic)
        *_crud(SCOPE, r.get_subscription, r.put_subscription, r.patch_subscription, r.delete_subscription,
               r.full_url, r.delivery_attributes),
        # data plane: a custom topic's endpoint (served by sandbox.serve())
        Route("POST", r"/eventgrid/topics/(?P<topic>[^/]+)/api/events", r.publish_events, arm=False),
    ]
