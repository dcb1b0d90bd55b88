"""ipywidgets forms for the lessons: each builds the same SDK objects a learner would write by hand.

Import the one you need, e.g. ``from amlevents_kit.widgets.providers import ProvidersPanel``;
nothing here is imported until then, so the kit stays quick to import outside Jupyter.
"""
