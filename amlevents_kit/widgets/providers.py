"""A panel of resource providers: their registration state, a Register button and Refresh."""

from __future__ import annotations

import html
from typing import Iterable

import ipywidgets as W

from ..providers import LESSON_PROVIDERS

STATE_COLOURS = {"Registered": "#107c10", "Registering": "#c19c00", "Unregistering": "#c19c00",
                 "NotRegistered": "#a4262c"}


class ProvidersPanel(W.VBox):
    """Shows each provider's state; Register starts registration, Refresh reads the states again."""

    def __init__(self, target, namespaces: Iterable[str] = LESSON_PROVIDERS) -> None:
        from azure.mgmt.resource.resources import ResourceManagementClient
        self.rm = target.client(ResourceManagementClient)
        self.namespaces = sorted(namespaces)
        self.choice = W.Dropdown(options=self.namespaces, description="Provider")
        self.register_button = W.Button(description="Register", button_style="primary", icon="plus")
        self.refresh_button = W.Button(description="Refresh", icon="refresh")
        self.table = W.HTML()
        self.out = W.Output()
        self.register_button.on_click(self._on_register)
        self.refresh_button.on_click(lambda _b: self.refresh())
        super().__init__([self.table, W.HBox([self.choice, self.register_button, self.refresh_button]), self.out])
        self.states: dict[str, str] = {}
        self.refresh()

    def refresh(self) -> dict[str, str]:
        """Read every provider's state and redraw the table."""
        self.states = {ns: self.rm.providers.get(ns).registration_state for ns in self.namespaces}
        rows = "".join(
            f"<tr><td>{html.escape(ns)}</td><td style='color:{STATE_COLOURS.get(s, '#333')};font-weight:600'>"
            f"{html.escape(s)}</td></tr>" for ns, s in self.states.items())
        self.table.value = (f"<table class='amlevents-providers'><tr><th>Provider</th><th>State</th></tr>"
                            f"{rows}</table>")
        return self.states

    def _on_register(self, _button) -> None:
        ns = self.choice.value
        state = self.rm.providers.register(ns).registration_state
        self.refresh()
        self.out.outputs = ()
        self.out.append_stdout(f"register {ns}: {state}\n")
