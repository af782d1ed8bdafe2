"""Wire-level fakes of Google services for tests: real client libraries talk HTTP to local servers.

* ``sheets.FakeSheets``: the Sheets v4 subset gspread uses, with real cell state.
* ``bigquery.FakeBigQuery``: the BigQuery v2 subset google-cloud-bigquery uses, tables in DuckDB.
* ``http.FakeServer``: the shared threaded server (request log, injected faults, token endpoint).
"""
