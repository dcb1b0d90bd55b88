"""Event Grid subscription filters, evaluated locally exactly as Azure documents them.

Works on the azure-mgmt-eventgrid model a learner builds for Azure (``EventSubscriptionFilter``
with any ``*AdvancedFilter``) and on its REST JSON (``properties.filter``)::

    from azure.mgmt.eventgrid.models import EventSubscriptionFilter, StringInAdvancedFilter
    from amlevents_kit import filters
    flt = EventSubscriptionFilter(advanced_filters=[
        StringInAdvancedFilter(key="data.modelTags.stage", values=["production"])])
    filters.matches(event, flt)      # True/False
    print(filters.explain(event, flt))   # every clause, with its reason
    filters.lint(flt)                # what Azure rejects, what can never match
"""

from .engine import compile_filter, matches
from .explain import ClauseResult, Explanation, explain
from .lint import Finding, lint, subject_possible
from .spec import (MAX_ADVANCED_FILTERS, MAX_FILTER_VALUES, MAX_STRING_VALUE_LENGTH, OPERATORS,
                   FilterValidationError, read_filter, validate_filter)

__all__ = [
    "MAX_ADVANCED_FILTERS", "MAX_FILTER_VALUES", "MAX_STRING_VALUE_LENGTH", "OPERATORS",
    "ClauseResult", "Explanation", "FilterValidationError", "Finding", "compile_filter",
    "explain", "lint", "matches", "read_filter", "subject_possible", "validate_filter",
]
