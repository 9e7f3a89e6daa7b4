"""GET changes nothing: every GET route, opened by a signed-in Admin who is also a signed-in
portal customer (one browser), on a realistic dataset, leaves every row of every table as it
was (a checksum of all columns per table). Only the tables written on purpose by reading are
left out (tests/security/crawl.py GET_WRITES_BY_DESIGN: the audit trail of who read personal
data, and sign-in bookkeeping)."""
from __future__ import annotations

from tests.security.crawl import changed, crawl_routes, table_digests


def test_no_get_route_changes_a_row(app, admin_and_customer):
    client = admin_and_customer
    routes = [r for r in crawl_routes(app) if "GET" in r.methods]
    assert len(routes) > 200
    before = table_digests()
    failures = []
    for route in routes:
        response = client.get(route.url)
        response.close()  # streamed downloads run to the end
        after = table_digests()
        if after != before:
            failures.append(f"GET {route.url} ({response.status_code}) changed "
                            f"{changed(before, after)}")
            before = after
        if response.status_code >= 500:
            failures.append(f"GET {route.url}: {response.status_code}")
    assert not failures, "\n".join(failures)
    # Neither session was ended by a GET (staff /logout/ shows a button; the portal's is POST).
    assert client.get("/customerview/list/").status_code == 200
    assert client.get("/portal/").status_code == 200
