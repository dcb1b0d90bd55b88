"""A local webhook receiver for Event Grid deliveries, exportable as an Azure Functions app.

    from amlevents_kit.receiver import Receiver
    receiver = Receiver().start()          # http://127.0.0.1:PORT/api/events, both handshakes answered

    @receiver.on("Microsoft.MachineLearningServices.ModelRegistered")
    def on_model(event):
        print(event.subject)

    receiver.export_function_app("my_function_app")   # function_app.py + host.json + requirements.txt
"""

from .export import export_function_app
from .host import Delivery, Receiver, summary

__all__ = ["Receiver", "Delivery", "export_function_app", "summary"]
