"""Median latency of one SDK call to the sandbox, in-process and over loopback HTTPS.

The baseline is the same SDK call answered by a transport that does nothing (a canned response):
what the Azure SDK pipeline itself costs. Each figure is printed beside it as a ratio, measured in
the same run, because these machines are noisy.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

from azure.mgmt.resource.resources import ResourceManagementClient

from amlevents_kit import connect
from amlevents_kit.sandbox.arm.transport import InProcessTransport

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
CANNED = (200, {"Content-Type": "application/json"},
          b'{"id": "/subscriptions/x/providers/Microsoft.EventGrid", "namespace": "Microsoft.EventGrid", '
          b'"registrationState": "Registered", "resourceTypes": []}')


def median_ms(call, n: int = N) -> float:
    for _ in range(20):
        call()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    target = connect(folder=tempfile.mkdtemp(prefix="bench-transport-"))
    noop = ResourceManagementClient(target.credential, target.subscription_id,
                                    transport=InProcessTransport(lambda *a: CANNED))
    in_process = target.client(ResourceManagementClient)
    info = target.serve()
    remote = connect(url=info["base_url"], ca_path=info["ca_path"]).client(ResourceManagementClient)

    def get(client):
        return lambda: client.providers.get("Microsoft.EventGrid")

    baseline = median_ms(get(noop))
    rows = [("no-op transport (baseline)", baseline),
            ("sandbox, in-process", median_ms(get(in_process))),
            ("sandbox, loopback HTTPS", median_ms(get(remote)))]
    print(f"providers.get median latency over {N} calls")
    for name, ms in rows:
        print(f"  {name:28} {ms:7.3f} ms   ×{ms / baseline:5.2f} baseline")
    target.sandbox.close()


if __name__ == "__main__":
    main()
