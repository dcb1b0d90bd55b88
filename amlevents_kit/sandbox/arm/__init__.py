"""The ARM wire core shared by every emulated resource provider.

`http` holds the request/response types, `errors` the ARM error bodies, `router` the route table,
`store` the SQLite resource store, `clock` the sandbox clock, `lro` long-running operations,
`transport` the in-process azure-core transport, `server` the loopback HTTPS server and `outbound`
the requests the sandbox itself sends (in process to ARM, over the network elsewhere).
"""
