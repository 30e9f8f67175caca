"""A minimal example service, built step by step as docs/services/new-service.md says: a
notary registers a document's SHA-256, anyone reads it back with its history. Laid out as
`src/consortium/apps/notary/` would be; tests/unit/test_new_service_guide.py runs it on a
real Ledger on both engines and through its generated JSON-RPC method, REST route, client
method and CLI commands."""
