"""The web pieces api/ and dashboard/ share, so neither imports the other: the request's state
and database session, the JSON error shape, the login and admin guards, the browser-facing
defences, and CSV rendering."""
