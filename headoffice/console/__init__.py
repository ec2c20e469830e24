"""The head-office console: server-rendered pages for owners and store managers, served by `headoffice serve`.

`web` holds what every page module shares (who is logged in, scope checks, CSRF, rendering, audit);
`app` mounts the page modules beside the /v1 API; `security` wraps both in headers, size limits and
trace-free error pages.
"""
