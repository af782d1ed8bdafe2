"""Local imitations of the APIs couplet talks to, faithful to their public contracts (demo and tests).

`sandbox.server.create_root_app` mounts every sandbox; `sandbox.org.Org` is the synthetic agency the
sources render. The imitations share one engine (`app`, `listing`, `admin`, `store`, `common`,
`faults`); each API folder holds only its own routes, parameters, shapes and errors (docs/sandbox.md,
"How a sandbox is built"). Nothing here imports the connectors or the destinations: the sandboxes
implement the published contracts independently, so a client bug cannot hide behind a matching
sandbox bug.
"""
