"""psycopg 3 reads the seeded people table through the gateway, for proxy/tests/masking.rs.

Usage: python3 psycopg_masking.py CONNINFO   (the token in PGPASSWORD)

Text and binary results, a server-side (named) cursor, bound parameters and an error that
quotes a value; prints what came back, and every error message, as one JSON object.
"""

import json
import sys

import psycopg


def rows(cur):
    return [[None if v is None else str(v) for v in row] for row in cur.fetchall()]


def main() -> None:
    out = {}
    with psycopg.connect(sys.argv[1], autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM people ORDER BY id")
            out["text"] = rows(cur)
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT id, email, card, iban, phone, secret FROM people ORDER BY id")
            out["binary"] = rows(cur)
            cur.execute("SELECT upper(email), email || '' FROM people ORDER BY id")
            out["expressions"] = rows(cur)
        with conn.cursor() as cur:
            cur.execute("SELECT email FROM people WHERE email = %s", ("alice.smith@example.com",))
            out["bound"] = rows(cur)
        with conn.transaction():
            with conn.cursor(name="people_cursor") as cur:
                cur.execute("SELECT * FROM people ORDER BY id")
                out["named_cursor"] = rows(cur)
        try:
            conn.execute("SELECT email::int FROM people")
        except psycopg.Error as e:
            out["error"] = str(e)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
