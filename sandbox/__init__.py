"""Local imitations of the source APIs, faithful to their public contracts (demo and tests).

`sandbox.server.create_root_app` mounts every sandbox; `sandbox.org.Org` is the synthetic agency they
all render. Nothing here imports the connectors: the sandboxes implement the published contracts
independently, so a connector bug cannot hide behind a matching sandbox bug.
"""
