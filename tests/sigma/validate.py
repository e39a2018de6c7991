#!/usr/bin/env python3
"""Runs a Sigma rule against a real Kubernetes audit log with pySigma.

    validate.py RULE.yml AUDIT.log

1. Parses the rule with pySigma (any error fails) and runs pySigma's own rule validators,
   except the two that download MITRE data from the internet (attacktag, d3_fendtag).
2. Converts it with pySigma-backend-duckdb and, as a second opinion, pySigma-backend-sqlite,
   and prints both queries on stderr.
3. Loads the audit log (JSON lines, one audit.k8s.io/v1 Event each, as kube-apiserver
   writes it) into DuckDB, runs the DuckDB query, runs the SQLite query on the same rows in
   SQLite, and prints on stdout one JSON document: the queries, the number of events, and
   the (auditID, stage) of every event the rule matched. The two engines must agree.

Exit 0 when all of that worked (whether or not anything matched), 1 otherwise, 2 on usage.

How the log meets the queries. Sigma names a nested field of a JSON event by its path with
dots, as the Kubernetes audit rules of SigmaHQ do (`user.username`, `objectRef.resource`,
`responseStatus.code`), and both backends turn such a field into one quoted identifier: a
column literally named "user.username" of a table named `logs`. DuckDB reads the log with
`user` as a STRUCT column, so the `logs` view below gives every field inside a struct, at
any depth, a column named by its dotted path (`struct_extract("user", 'username') AS
"user.username"`), and keeps the top-level columns as they are. That is the whole
adaptation: the rule is not rewritten, no processing pipeline renames a field (the DuckDB
backend's default pipeline maps nothing), and a field the rule names that the log lacks is
an error from DuckDB, not a silent non-match.
"""

import json
import re
import sqlite3
import sys

import duckdb
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.validation import SigmaValidator
from sigma.validators.core import validators as core_validators
from sigma_backend_duckdb import DuckDBBackend

# These look tags up in MITRE's data, which pySigma downloads on first use.
NEEDS_INTERNET = {"attacktag", "d3_fendtag"}


def fail(message):
    print(f"validate.py: {message}", file=sys.stderr)
    sys.exit(1)


def quote_identifier(name):
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text):
    return "'" + text.replace("'", "''") + "'"


def flattened_columns(relation):
    """SELECT items naming every struct member by its dotted path."""
    items = []

    def walk(expression, path, duck_type):
        if duck_type.id == "struct":
            for child_name, child_type in duck_type.children:
                walk(
                    f"struct_extract({expression}, {quote_literal(child_name)})",
                    f"{path}.{child_name}",
                    child_type,
                )
        else:
            items.append((expression, path))

    for name, duck_type in zip(relation.columns, relation.types):
        walk(quote_identifier(name), name, duck_type)
    return items


def load_log(con, path):
    # sample_size=-1: infer the schema from every line, so a field that only some events
    # carry is still a column. ignore_errors: a line the API server is still writing is
    # skipped, as any reader of a live log must.
    raw = con.read_json(path, format="newline_delimited", sample_size=-1, ignore_errors=True)
    con.register("raw_events", raw)
    items = flattened_columns(raw)
    select = ", ".join(f"{expr} AS {quote_identifier(path)}" for expr, path in items)
    con.execute(f"CREATE VIEW logs AS SELECT {select} FROM raw_events")
    return [path for _, path in items]


def pairs(rows):
    return sorted({(str(audit_id), str(stage)) for audit_id, stage in rows})


def run_duckdb(con, query):
    return pairs(con.execute(f'SELECT "auditID", "stage" FROM ({query}) AS matched').fetchall())


def sqlite_value(value):
    if value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def run_sqlite(con, columns, query):
    """The same flattened rows in SQLite, and the SQLite backend's query on them. Only the
    columns the query names are copied (with auditID and stage): a log at RequestResponse
    level flattens to more columns than SQLite allows in a table."""
    # The backend quotes dotted identifiers with backticks, or double quotes, and leaves
    # plain ones (`verb`) bare.
    named = {a or b for a, b in re.findall(r'`([^`]+)`|"([^"]+)"', query)}
    named |= set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", query))
    columns = [c for c in columns if c in named or c in ("auditID", "stage")]
    lite = sqlite3.connect(":memory:")
    lite.execute(f"CREATE TABLE logs ({', '.join(quote_identifier(c) for c in columns)})")
    select = ", ".join(quote_identifier(c) for c in columns)
    rows = con.execute(f"SELECT {select} FROM logs").fetchall()
    placeholders = ", ".join("?" for _ in columns)
    lite.executemany(
        f"INSERT INTO logs VALUES ({placeholders})",
        ([sqlite_value(v) for v in row] for row in rows),
    )
    query = query.replace("<TABLE_NAME>", "logs")
    found = lite.execute(f'SELECT "auditID", "stage" FROM ({query})').fetchall()
    return pairs(found), len(rows)


def main(argv):
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    rule_path, log_path = argv[1], argv[2]
    with open(rule_path, encoding="utf-8") as f:
        text = f.read()

    # 1. Parse (collect_errors=False: the first error raises) and validate.
    try:
        rules = SigmaCollection.from_yaml(text)
    except Exception as e:  # noqa: BLE001: any parse error is the answer
        fail(f"pySigma cannot parse {rule_path}: {type(e).__name__}: {e}")
    if len(rules.rules) == 0:
        fail(f"{rule_path} holds no Sigma rule")
    checks = [v for name, v in sorted(core_validators.items()) if name not in NEEDS_INTERNET]
    issues = SigmaValidator(checks).validate_rules(rules)
    if issues:
        fail("pySigma's validators found: " + "; ".join(str(i) for i in issues))

    # 2. Convert.
    try:
        duck_queries = DuckDBBackend().convert(rules)
        lite_queries = sqliteBackend().convert(rules)
    except Exception as e:  # noqa: BLE001
        fail(f"conversion failed: {type(e).__name__}: {e}")
    if len(duck_queries) != 1 or len(lite_queries) != 1:
        fail(f"expected one query per backend, got {duck_queries!r} and {lite_queries!r}")
    print(f"DuckDB query: {duck_queries[0]}", file=sys.stderr)
    print(f"SQLite query: {lite_queries[0]}", file=sys.stderr)

    # 3. Run both on the log.
    con = duckdb.connect(":memory:")
    try:
        columns = load_log(con, log_path)
        duck_matches = run_duckdb(con, duck_queries[0])
        lite_matches, events = run_sqlite(con, columns, lite_queries[0])
    except (duckdb.Error, sqlite3.Error) as e:
        fail(f"running the query on {log_path} failed: {type(e).__name__}: {e}")
    if duck_matches != lite_matches:
        fail(
            "DuckDB and SQLite disagree: only DuckDB matched "
            f"{sorted(set(duck_matches) - set(lite_matches))}, only SQLite matched "
            f"{sorted(set(lite_matches) - set(duck_matches))}"
        )

    json.dump(
        {
            "rules": [{"title": r.title, "id": str(r.id)} for r in rules.rules],
            "queries": {"duckdb": duck_queries[0], "sqlite": lite_queries[0]},
            "events": events,
            "matches": [{"auditID": a, "stage": s} for a, s in duck_matches],
        },
        sys.stdout,
        indent=2,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
