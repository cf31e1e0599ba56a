"""The service's contracts, one module per audience: `http` (HTTP clients), `history`
(payloads in workflow history, where a change needs care), `status` (the status document)."""
