"""The operations that join connectors, the database and forecasting: syncing a platform,
importing a CSV file, fetching the platforms' own reports, connecting a platform, seeding the
demo company and retraining the forecasts. Each opens its own sessions, so the web, the worker
and the CLI can all run them; the web calls the quick ones and requests the long ones, which
the worker runs.

Import the module you need (`from jobs import sync`): this package imports none of them, so
loading one operation never loads the demo's simulators.
"""
