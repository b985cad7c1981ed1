"""A psycopg 3 session through the blastwall gateway, for proxy/tests/drivers.rs.

Usage: python3 psycopg_session.py CONNINFO   (the token in PGPASSWORD)

Uses server-side binding with statements prepared on the server (`prepare=True`), binary
results, and COPY in both directions, then prints what came back as one JSON object on
stdout; the Rust test checks it against the database and the events in the log.
"""

import json
import sys
from decimal import Decimal

import psycopg

FRUIT = [(1, "apple", Decimal("1.50")), (2, "banana", Decimal("0.25")), (3, "cherry", Decimal("12.00"))]


def main() -> None:
    conninfo = sys.argv[1]
    out = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        out["tls"] = conn.pgconn.ssl_in_use
        conn.execute("CREATE TABLE fruit (id int PRIMARY KEY, name text, price numeric)")
        with conn.cursor() as cur:
            # Server-side binding: Parse once as a named statement, then Bind/Execute each time.
            sums = []
            for a, b in [(1, 2), (20, 22), (100, 1)]:
                cur.execute("SELECT %s::int4 + %s::int4 AS sum", (a, b), prepare=True)
                sums.append(cur.fetchone()[0])
            out["sums"] = sums

            with cur.copy("COPY fruit (id, name, price) FROM STDIN") as copy:
                for row in FRUIT:
                    copy.write_row(row)
            out["copied_in"] = cur.rowcount

            cur.execute(
                "SELECT name, price FROM fruit WHERE price > %s ORDER BY id",
                (Decimal("1"),),
                binary=True,
            )
            out["expensive"] = [[name, str(price)] for name, price in cur.fetchall()]

            lines = []
            with cur.copy("COPY (SELECT id, name FROM fruit ORDER BY id) TO STDOUT") as copy:
                for row in copy.rows():
                    lines.append(list(row))
            out["copied_out"] = lines
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
